"""gunicorn's access line carries the ``request_id`` of the request's other lines (its answer's ``correlationId``)
and, when tracing is on, its trace's ids, so an operator goes from an access line to the rest of the request."""

from __future__ import annotations

import datetime
import io
import json
import logging
import types
from typing import Any

import pytest
from gunicorn.config import Config

from tests.tracing import server_spans
from tpfgo_site.gunicorn_logging import JsonLogger

pytestmark = pytest.mark.django_db


def access_line(environ: dict[str, Any], status: int) -> dict[str, Any]:
    """The line gunicorn writes for a request whose WSGI environ was ``environ``."""
    config = Config()
    config.set("accesslog", "-")
    logger = JsonLogger(config)
    written = io.StringIO()
    (handler,) = logger.access_log.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    response = types.SimpleNamespace(status=f"{status} X", sent=0)
    logger.access(response, types.SimpleNamespace(), environ, datetime.timedelta(milliseconds=3))
    (line,) = written.getvalue().splitlines()
    return dict(json.loads(line))


def test_an_access_line_carries_the_request_id_its_answer_quotes(client):
    answer = client.post("/api/v1/orders", data={}, content_type="application/json")  # no token: refused
    line = access_line(answer.wsgi_request.META, answer.status_code)
    assert (line["event"], line["path"], line["status"]) == ("http.access", "/api/v1/orders", 401)
    assert line["request_id"] == answer.json()["error"]["correlationId"] != ""
    assert "trace_id" not in line  # tracing is off


def test_with_tracing_on_an_access_line_names_the_requests_server_span(client, spans):
    answer = client.get("/healthz")
    line = access_line(answer.wsgi_request.META, answer.status_code)
    (server,) = server_spans(spans)
    assert (line["trace_id"], line["span_id"]) == (
        format(server.context.trace_id, "032x"),
        format(server.context.span_id, "016x"),
    )
    assert line["request_id"]
