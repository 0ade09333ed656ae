"""An unexpected error while serving a request, outside any step: its logged traceback (``api.internal_error``,
``rpc.internal_error``) names the payment tokens the request leads to by their hint only, as a failed step's text does
(``checkout.api.errors``, ``pipelines.scrubber_for``, ``checkout.personal.payment_tokens_to_hide``).

The error is a real one at the process edges: the gateway simulator fails the payment step with an error quoting the
token, and the database has lost the table the failure is parked in, so recording it fails and the request ends
with that database error, the gateway's quoted behind it in the traceback ("During handling of the above
exception")."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from django.db import connection

from pipelines.models import ErrorSinkEntry, ParkedItem
from tests.checkout.conftest import order_body, place
from tests.checkout.erasure_helpers import captured_logs
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Zq8VxEchoed4242"
HINT = "…4242"
# Authorizes every token; every re-authorization fails quoting the token it was handed.
REAUTHORIZING = "tests.checkout.recording_gateway.EchoingReauthorizationGateway"
ECHOING = "tests.checkout.recording_gateway.EchoingGateway"  # every authorization fails quoting the token
REVISED = {"items": [{"menuItemId": "crepe", "quantity": 3}]}


def internal_errors(text: str, event: str = "api.internal_error") -> list[dict]:
    return [line for line in map(json.loads, text.splitlines()) if line.get("event") == event]


@contextlib.contextmanager
def parking_table_gone() -> Iterator[None]:
    """The database without the table a failed step is parked in (renamed away, and back after: a transactional
    test's rename is committed), so recording a step's failure fails with the database's own error."""
    table = connection.ops.quote_name(ParkedItem._meta.db_table)
    gone = connection.ops.quote_name(f"{ParkedItem._meta.db_table}_gone")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {gone}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {gone} RENAME TO {table}")


def manual_order(settings) -> str:  # type: ignore[no-untyped-def]
    """An order paid with ``TOKEN`` at a restaurant that accepts by hand (a revision re-authorizes its total)."""
    settings.TPFGO_PAYMENT_GATEWAY = REAUTHORIZING
    return place(paymentToken=TOKEN, restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]).view[
        "orderId"
    ]


def test_the_token_of_the_order_the_url_names_is_logged_as_its_hint(api, settings, demo_data):
    order_id = manual_order(settings)
    with captured_logs() as logged, parking_table_gone():
        response = api.post(f"/api/v1/orders/{order_id}/revise", REVISED, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL"
    (line,) = internal_errors(logged())
    assert TOKEN not in logged() and f"refused for source={HINT}" in line["exception"]
    assert "Traceback" in line["exception"] and "During handling of the above exception" in line["exception"]
    assert (ErrorSinkEntry.objects.count(), ParkedItem.objects.count()) == (1, 0)  # the entry, and nothing parked


def test_when_the_tokens_cannot_be_looked_up_the_traceback_is_withheld_after_a_scrub_failed_line(
    api, monkeypatch, settings, demo_data
):
    """What the runbook's ``error_sink.scrub_failed`` row says of a request's unexpected error: the tokens it leads
    to cannot be looked up, so its traceback is withheld, after a line saying so."""
    from pipelines.failures import scrub

    order_id = manual_order(settings)

    def unreachable(snapshot: object, event: object) -> dict:
        raise ConnectionError("the database is unreachable")

    monkeypatch.setattr(scrub, "_finders", [unreachable])
    with captured_logs() as logged, parking_table_gone():
        response = api.post(f"/api/v1/orders/{order_id}/revise", REVISED, format="json", HTTP_IDEMPOTENCY_KEY="r-9")
    assert response.status_code == 500
    events = ("error_sink.scrub_failed", "api.internal_error")
    lines = [line for line in map(json.loads, logged().splitlines()) if line["event"] in events]
    # The failed step's text could not be scrubbed either (its line names the step); then the request's.
    assert [line["event"] for line in lines] == [events[0], *events]
    assert lines[0]["step"] == "payment_reauthorized" and "step" not in lines[1]
    assert lines[1]["error"] == "ConnectionError" and lines[2]["exception"] == scrub.WITHHELD
    assert lines[2]["request_id"] == lines[1]["request_id"] == response.json()["error"]["correlationId"]
    assert TOKEN not in logged()
    assert ParkedItem.objects.count() == 0


def test_the_token_in_the_request_body_is_logged_as_its_hint_and_nothing_is_parked(api, settings, demo_data):
    settings.TPFGO_PAYMENT_GATEWAY = ECHOING
    before = all_insert_only_counts()
    with captured_logs() as logged, parking_table_gone():
        response = api.post("/api/v1/orders", order_body(paymentToken=TOKEN), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL"
    (line,) = internal_errors(logged())
    assert TOKEN not in logged() and f'"value": "{HINT}"' in line["exception"]
    after = all_insert_only_counts()
    # The order's steps before its payment are stored (the same request again takes them up), with the one sink
    # entry of the payment's failure; nothing is parked.
    assert {label: after[label] - before[label] for label in after if after[label] != before[label]} == {
        "pipelines.Trace": 1,
        "pipelines.CheckpointLog": 4,
        "pipelines.LineageLink": 3,
        "order_request.OrderRequest": 1,
        "order_request.LineItem": 1,
        "initial_order.InitialOrder": 1,
        "ready_order.ReadyOrder": 1,
        "consumer_verified.ConsumerVerified": 1,
        "pipelines.ErrorSinkEntry": 1,
    }


def test_a_grpc_calls_unexpected_error_logs_the_token_of_the_order_it_names_as_its_hint(
    grpc_target, token, settings, demo_data
):
    import grpc

    from checkout.protos import orders_pb2, orders_pb2_grpc

    order_id = manual_order(settings)
    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(grpc_target))
    revise = orders_pb2.ReviseOrderRequest(
        order_id=order_id, items=[orders_pb2.OrderItem(menu_item_id="crepe", quantity=3)], idempotency_key="r-1"
    )
    with captured_logs() as logged, parking_table_gone(), pytest.raises(grpc.RpcError) as failed:
        stub.ReviseOrder(revise, metadata=[("authorization", f"Token {token}")])
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    (line,) = internal_errors(logged(), "rpc.internal_error")
    assert TOKEN not in logged() and f"refused for source={HINT}" in line["exception"]
    assert (ErrorSinkEntry.objects.count(), ParkedItem.objects.count()) == (1, 0)
