"""JSON log lines for every server process: Django's LOGGING, gunicorn's logger class, Celery's shutdown notices.

One formatter (structlog's ``ProcessorFormatter``) renders every record, from structlog or plain ``logging``, as
one JSON object per line, tracebacks included (``exception`` field). Servers log to stdout; a management command
logs to stderr, so its own result on stdout stays parseable (``manage.py`` sets ``TPFGO_LOG_STREAM``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_structlog import signals as structlog_signals
from opentelemetry import trace

from pipelines import log_ids, withhold_database_details

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# "stdout" (servers) or "stderr" (management commands; see manage.py).
LOG_STREAM = "stderr" if os.environ.get("TPFGO_LOG_STREAM", "stdout") == "stderr" else "stdout"


def traceback_text(logger: object, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A record whose traceback a logger's filter replaced by its text (``exc_text``, no ``exc_info`` left: the
    scrubbed lines of ``tpfgo_site/scrubbed_logs.py``) shows that text as its ``exception``."""
    record = event_dict.get("_record")
    if record is not None and record.exc_text and not record.exc_info:
        event_dict.setdefault("exception", record.exc_text)
    return event_dict


def database_details(logger: object, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Every text field of a line (its traceback, an ``error`` quoting an exception) with the values a PostgreSQL
    error quotes withheld: its ``DETAIL`` (the row it refused), the input value its primary message quotes, the
    statement's line (``pipelines.failures.scrub.database_details``): a line logged with ``log.exception`` anywhere,
    not only the scrubbed ones."""
    for name, value in event_dict.items():
        if isinstance(value, str) and ('"' in value or "DETAIL:  " in value or "LINE " in value):
            event_dict[name] = withhold_database_details(value)
    return event_dict


# Records from plain logging (Django, Celery, gRPC, gunicorn) get the same fields as structlog's own.
FOREIGN_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    log_ids,  # the OpenTelemetry trace_id/span_id, when tracing is on (pipelines/engine/tracing.py)
    structlog.processors.TimeStamper(fmt="iso"),
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    traceback_text,
]


def json_formatter() -> dict[str, Any]:
    """The ``formatters`` entry of a ``dictConfig``: one JSON object per line, a traceback as a string field."""
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            database_details,
            structlog.processors.JSONRenderer(),
        ],
        "foreign_pre_chain": FOREIGN_PRE_CHAIN,
    }


# Query parameters whose values no log line shows (gunicorn's access line, django-structlog's request lines): a search
# box (the console's lists search consumers by name) and credentials a client may put in the address, though only the
# Authorization header is read.
REDACTED = frozenset({"q", "token", "key", "api_key", "access_token", "password", "secret"})


def logged_query(query: str) -> str | None:
    """The query string as a log line shows it: every parameter, the values of ``REDACTED`` ones as ``-``."""
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in REDACTED for name, _ in pairs):
        return query
    return urlencode([(name, "-" if name.lower() in REDACTED else value) for name, value in pairs])


def logged_request(request: HttpRequest) -> str:
    """django-structlog's ``request`` field (``METHOD path?query``) with the query as ``logged_query`` shows it."""
    path, _, query = request.get_full_path().partition("?")
    shown = logged_query(query)
    return f"{request.method} {path}" + (f"?{shown}" if shown else "")


# The attributes in which OpenTelemetry's Django instrumentation records a request's address, its query as sent.
SPAN_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def shown_span_query(query: str) -> None:
    """The current (request) span's address attributes with ``query`` as ``logged_query`` shows it."""
    shown = logged_query(query)
    if not query or shown == query:
        return
    span = trace.get_current_span()
    recorded = getattr(span, "attributes", None) or {}
    for name in SPAN_URL_ATTRIBUTES:
        value = recorded.get(name)
        if isinstance(value, str) and query in value:
            span.set_attribute(name, value.replace(query, shown or ""))


def _request_field(sender: object, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: object) -> None:
    log_kwargs["request"] = logged_request(request)
    shown_span_query(request.META.get("QUERY_STRING", ""))


# django-structlog's hooks for a request's started, finished and failed lines (its documented way to change them);
# OpenTelemetry's middleware runs before django-structlog's, so the request's span is current here.
for _signal in (
    structlog_signals.bind_extra_request_metadata,
    structlog_signals.bind_extra_request_finished_metadata,
    structlog_signals.bind_extra_request_failed_metadata,
):
    _signal.connect(_request_field, dispatch_uid="tpfgo_site.logs.request_field")


# The WSGI environ key under which a request's log ids wait for its access line.
ACCESS_IDS = "tpfgo.log_ids"


class AccessLineIds:
    """Middleware, right after django-structlog's: leaves the request's ``request_id`` (and, when tracing is on,
    its span's ``trace_id`` and ``span_id``) in its WSGI environ. gunicorn writes the access line after the
    response, when the request's log context is cleared and its span ended (``tpfgo_site/gunicorn_logging.py``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        ids = log_ids(None, "", {"request_id": structlog.contextvars.get_contextvars().get("request_id")})
        request.META[ACCESS_IDS] = {name: value for name, value in ids.items() if value}
        return self.get_response(request)


def json_handler(stream: str = LOG_STREAM) -> dict[str, Any]:
    return {"class": "logging.StreamHandler", "stream": f"ext://sys.{stream}", "formatter": "json"}


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            # First: a record below its logger's level is dropped before any work is done for it (the engine
            # logs at INFO on every step; merging the context and the trace ids cost more than the check).
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            log_ids,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


def signal_safe_notice(message: str, logger: str) -> None:
    """A JSON line written without ``logging`` (whose locks a signal handler must not take): Celery's notices."""
    line = {
        "event": message.strip(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "logger": logger,
        "level": "warning",
    }
    try:
        os.write(2, (json.dumps(line) + "\n").encode())
    except OSError:
        pass  # a closed stream at exit: nothing left to report to


def capture_warnings() -> None:
    """Python warnings (Celery's SecurityWarning, deprecations) become log records, hence JSON lines."""
    logging.captureWarnings(True)
