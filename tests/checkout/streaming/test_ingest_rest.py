"""NDJSON ingest over REST: answers in input order, bad lines answered in place, token, shape, admission, reject."""

import json
import queue
import time

import pytest
import structlog
from django.test import Client

from access.tokens import revoke_token
from checkout import ingest
from checkout.order_request.models import OrderRequest
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import CheckpointLog
from pipelines.store import observers
from tests.checkout.streaming.conftest import line, ndjson
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/orders/ingest"


def post(body: bytes, token: str | None, content_type: str = "application/x-ndjson", **headers):
    client = Client()
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client.post(URL, data=body, content_type=content_type, **headers)


def answers(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]


def test_every_line_gets_its_answer_in_input_order_and_a_bad_line_does_not_stop_the_stream(demo_data, token):
    body = ndjson(
        [
            line("ing-1"),
            b"{not json\n",
            line("ing-2", restaurant="nowhere"),
            b"\n",
            line(None),
            b'{"idempotencyKey": "ing-3", "order": {}, "extra": 1}\n',
            line("ing-4", consumer="bob"),
        ]
    )
    result = answers(post(body, token))
    assert [(a["idempotencyKey"], a.get("state"), a.get("error", {}).get("code")) for a in result] == [
        ("ing-1", "COMPLETED", None),
        (None, None, "INVALID_ARGUMENT"),
        ("ing-2", None, "INVALID_ARGUMENT"),
        (None, None, "INVALID_ARGUMENT"),
        ("ing-3", None, "INVALID_ARGUMENT"),
        ("ing-4", "COMPLETED", None),
    ]
    assert result[1]["error"]["message"] == "line 2: not a JSON object"
    assert OrderRequest.objects.count() == 2
    assert TerminalOrderState.objects.count() == 2


def test_a_resent_stream_replays_every_order_and_stores_nothing_new(demo_data, token):
    body = ndjson([line(f"again-{i}") for i in range(3)])
    first = answers(post(body, token))
    before = CheckpointLog.objects.count()
    assert answers(post(body, token)) == first
    assert CheckpointLog.objects.count() == before
    assert OrderRequest.objects.count() == 3


def test_the_token_is_checked_before_anything_else(demo_data):
    response = post(b"not even json\n", None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert OrderRequest.objects.count() == 0


def test_protobuf_over_http_cannot_stream(demo_data, token):
    response = post(b"\x0a\x01x", token, content_type="application/x-protobuf", HTTP_ACCEPT="application/x-protobuf")
    assert response.status_code == 501
    assert response["Content-Type"] == "application/x-protobuf"


def test_protobuf_refusal_names_the_transport_and_the_shape(demo_data, token):
    response = post(line("pb"), token, HTTP_ACCEPT="application/x-protobuf, application/json;q=0.1")
    assert response.status_code == 501
    response = post(line("pb"), token, content_type="application/x-protobuf", HTTP_ACCEPT="application/json")
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (501, "UNIMPLEMENTED")
    assert "protobuf-over-HTTP" in error["message"] and "streaming route" in error["message"]
    assert OrderRequest.objects.count() == 0


def test_a_body_that_is_not_ndjson_is_refused_with_415(demo_data, token):
    response = post(line("json"), token, content_type="application/json")
    assert (response.status_code, response.json()["error"]["code"]) == (415, "INVALID_ARGUMENT")
    assert OrderRequest.objects.count() == 0


def test_a_stream_beyond_the_process_capacity_is_refused_with_429_and_retry_after(demo_data, token, settings):
    settings.TPFGO_INGEST_MAX_STREAMS = 1
    settings.TPFGO_INGEST_RETRY_AFTER = 3
    held = ingest.admit()
    try:
        response = post(line("busy"), token)
    finally:
        held.release()
    assert response.status_code == 429
    assert response["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert OrderRequest.objects.count() == 0
    assert [a["state"] for a in answers(post(line("free"), token))] == ["COMPLETED"]


def test_under_reject_a_burst_beyond_the_buffer_is_refused_and_everything_accepted_completes(
    demo_data, token, settings
):
    settings.TPFGO_BUFFER_CAPACITY = 2
    settings.TPFGO_OVERFLOW_POLICY = "reject"
    settings.TPFGO_STREAM_WORKERS = 1  # 2 queued + 1 in flight (+1 if it finishes during the burst)
    untap = observers.tap("checkout", "order_request", lambda event: time.sleep(0.05))
    try:
        result = answers(post(ndjson([line(f"burst-{i}") for i in range(20)]), token))
    finally:
        untap()
    assert [a["idempotencyKey"] for a in result] == [f"burst-{i}" for i in range(20)]
    accepted = [a for a in result if "error" not in a]
    refused = [a for a in result if "error" in a]
    assert {a["error"]["code"] for a in refused} == {"RESOURCE_EXHAUSTED"}
    assert 2 <= len(accepted) <= 4 and len(refused) == 20 - len(accepted)
    assert {a["state"] for a in accepted} == {"COMPLETED"}
    assert OrderRequest.objects.count() == len(accepted)
    assert TerminalOrderState.objects.count() == len(accepted)
    stored = set(OrderRequest.objects.values_list("request_id", flat=True))
    assert stored == {a["idempotencyKey"] for a in accepted}


def test_a_stream_is_counted_once_it_ends_not_when_the_view_returns(demo_data, token):
    from prometheus_client import REGISTRY

    def counted() -> float:
        labels = {"route": "POST /api/v1/orders/ingest", "status": "OK", "transport": "rest"}
        return REGISTRY.get_sample_value("tpfgo_requests_total", labels) or 0.0

    before = counted()
    response = post(ndjson([line("timed-1")]), token)
    assert counted() == before  # the view returned; its stream has not run yet
    assert len(answers(response)) == 1
    response.close()  # what the WSGI server does once the stream is sent (or the client went away)
    response.close()
    assert counted() == before + 1


class Typed:
    """A request body its client sends line by line, as gunicorn hands a chunked upload to the application."""

    def __init__(self) -> None:
        self._lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def send(self, data: bytes) -> None:
        self._lines.put(data)

    def readline(self, size: int = -1) -> bytes:
        return self._lines.get(timeout=30)

    read = readline  # what Django's request wraps, unused: the route reads the server's input by line


def test_a_stream_whose_token_is_revoked_places_no_line_after_and_ends_with_an_unauthenticated_line(
    demo_data, token, settings
):
    settings.TPFGO_INGEST_TOKEN_CHECK_SECONDS = 0  # checked before every line
    body = Typed()
    chunked = {"CONTENT_LENGTH": "", "wsgi.input": body, "wsgi.input_terminated": True}
    response = post(b"-", token, **chunked)
    assert response.status_code == 200
    answered = iter(response.streaming_content)
    try:
        for key in ("before-1", "before-2"):
            body.send(line(key))
            assert json.loads(next(answered))["state"] == "COMPLETED"
        rows = all_insert_only_counts()
        assert revoke_token("stream-client") == 1
        body.send(line("after-1"))
        body.send(line("after-2"))
        assert json.loads(next(answered)) == {  # before: after-1 placed, COMPLETED, and after-2
            "idempotencyKey": None,
            "error": {
                "code": "UNAUTHENTICATED",
                "message": "Invalid token. The stream is ended; the lines answered before are done, the others "
                "were not placed.",
            },
        }
        assert next(answered, None) is None  # the stream ended without waiting for the client to close its body
    finally:
        body.send(b"")
        response.close()
    assert all_insert_only_counts() == rows
    assert sorted(OrderRequest.objects.values_list("request_id", flat=True)) == ["before-1", "before-2"]


def test_a_revoked_tokens_log_line_from_a_worker_thread_carries_the_requests_id(demo_data, token, settings):
    """``ingest.token_revoked`` is written by the stream's worker thread: it carries the request_id of the request's
    own lines, as bound by the request (its worker threads' lines had none)."""
    settings.TPFGO_INGEST_TOKEN_CHECK_SECONDS = 0
    body = Typed()
    chunked = {"CONTENT_LENGTH": "", "wsgi.input": body, "wsgi.input_terminated": True}
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = post(b"-", token, **chunked)
        answered = iter(response.streaming_content)
        try:
            body.send(line("logged-1"))
            assert json.loads(next(answered))["state"] == "COMPLETED"
            assert revoke_token("stream-client") == 1
            body.send(line("logged-2"))
            assert json.loads(next(answered))["error"]["code"] == "UNAUTHENTICATED"
        finally:
            body.send(b"")
            response.close()
    started = next(entry for entry in logs if entry["event"] == "request_started")
    revoked = next(entry for entry in logs if entry["event"] == "ingest.token_revoked")
    assert started["request_id"] and revoked.get("request_id") == started["request_id"]
    assert OrderRequest.objects.count() == 1
