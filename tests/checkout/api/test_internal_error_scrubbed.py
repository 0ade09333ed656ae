"""An unexpected error while serving a request, outside any step: its logged traceback (``api.internal_error``)
names the payment tokens the request leads to by their hint only, as a failed step's text does
(``checkout.api.errors``, ``pipelines.scrubber_for``, ``checkout.personal.payment_tokens_to_hide``)."""

from __future__ import annotations

import json

import pytest

from checkout import services
from tests.checkout.conftest import order_body, place
from tests.checkout.erasure_helpers import captured_logs
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Zq8VxEchoed4242"
HINT = "…4242"


def internal_errors(text: str) -> list[dict]:
    return [line for line in map(json.loads, text.splitlines()) if line.get("event") == "api.internal_error"]


def test_the_token_of_the_order_the_url_names_is_logged_as_its_hint(api, monkeypatch, demo_data):
    order_id = place(paymentToken=TOKEN).view["orderId"]

    def broken(order_id: str) -> dict:
        raise RuntimeError(f"charge lookup failed for token={TOKEN}")

    monkeypatch.setattr(services, "get_order", broken)
    with captured_logs() as logged:
        response = api.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL"
    (line,) = internal_errors(logged())
    assert TOKEN not in logged() and f"charge lookup failed for token={HINT}" in line["exception"]
    assert "Traceback" in line["exception"]


def test_when_the_tokens_cannot_be_looked_up_the_traceback_is_withheld_after_a_scrub_failed_line(
    api, monkeypatch, demo_data
):
    """What the runbook's ``error_sink.scrub_failed`` row says of a request: no failed step, no error-sink entry."""
    from pipelines.failures import scrub

    order_id = place(paymentToken=TOKEN).view["orderId"]

    def unreachable(snapshot: object, event: object) -> dict:
        raise ConnectionError("the database is unreachable")

    def broken(order_id: str) -> dict:
        raise RuntimeError(f"charge lookup failed for token={TOKEN}")

    monkeypatch.setattr(scrub, "_finders", [unreachable])
    monkeypatch.setattr(services, "get_order", broken)
    before = all_insert_only_counts()
    with captured_logs() as logged:
        response = api.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 500
    events = ("error_sink.scrub_failed", "api.internal_error")
    lines = [line for line in map(json.loads, logged().splitlines()) if line["event"] in events]
    assert [line["event"] for line in lines] == list(events) and lines[0]["error"] == "ConnectionError"
    assert lines[1]["exception"] == scrub.WITHHELD
    assert lines[1]["request_id"] == lines[0]["request_id"] == response.json()["error"]["correlationId"]
    assert TOKEN not in logged()
    assert all_insert_only_counts() == before


def test_the_token_in_the_request_body_is_logged_as_its_hint_and_nothing_is_stored(api, monkeypatch, demo_data):
    def broken(data: dict, key: str) -> services.Placed:
        raise RuntimeError(f"gateway said: unknown card {json.dumps({'token': TOKEN})}")

    monkeypatch.setattr(services, "place_order", broken)
    before = all_insert_only_counts()
    with captured_logs() as logged:
        response = api.post("/api/v1/orders", order_body(paymentToken=TOKEN), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL"
    (line,) = internal_errors(logged())
    assert TOKEN not in logged() and f'"token": "{HINT}"' in line["exception"]
    assert all_insert_only_counts() == before


def test_a_grpc_calls_unexpected_error_logs_the_token_of_the_order_it_names_as_its_hint(
    grpc_target, token, monkeypatch, demo_data
):
    import grpc

    from checkout.protos import orders_pb2, orders_pb2_grpc

    order_id = place(paymentToken=TOKEN).view["orderId"]

    def broken(order_id: str) -> dict:
        raise RuntimeError(f"charge lookup failed for token={TOKEN}")

    monkeypatch.setattr(services, "get_order", broken)
    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(grpc_target))
    with captured_logs() as logged, pytest.raises(grpc.RpcError) as failed:
        stub.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), metadata=[("authorization", f"Token {token}")])
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    (line,) = [entry for entry in map(json.loads, logged().splitlines()) if entry.get("event") == "rpc.internal_error"]
    assert TOKEN not in logged() and f"charge lookup failed for token={HINT}" in line["exception"]
