"""What a second adversarial pass found (2026-12-06), each on the transports that take it: a 4xx with the error
envelope (never a 500 or a cut stream) and nothing stored.

- An ingest line holding a number Python will not read (over 4,300 digits) or a JSON constant (``NaN``) is answered
  alone; the lines around it are placed.
- A time with a NUL, a line break or another script's digits after or in it, or outside years 1-9999 in UTC, is
  refused (Python's ``fromisoformat`` reads ``"…Z\\x00junk"`` as the time before the NUL).
- A subscriber name with a control character or an unpaired surrogate is refused before it is stored or looked up.
- Pickup and drop-off take no body: a field is refused, nothing is done.
- An error message that repeats a client's 10,000-character id is cut, so gRPC answers NOT_FOUND, not a client's
  RESOURCE_EXHAUSTED for the status headers' size.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from checkout import bulk
from checkout.order_request.models import OrderRequest
from pipelines import InvalidArgument, ServiceError, actions
from pipelines.models import Subscriber
from tests.checkout.api.test_bad_input import details, stored, ways  # noqa: F401  (ways: a fixture)
from tests.checkout.api.transports import Raw
from tests.checkout.conftest import order_body
from tests.checkout.streaming.conftest import post

PUBLICATION = "tpfgo.checkout.order-ready.v1"


def ndjson_line(key: str, order: Any) -> bytes:
    return json.dumps({"idempotencyKey": key, "order": order}).encode() + b"\n"


def test_an_ingest_line_python_cannot_read_is_answered_alone_and_the_lines_around_it_are_placed(ways, token):  # noqa: F811
    body = b"".join(
        [
            ndjson_line("digits-1", order_body()),
            b'{"idempotencyKey": "digits-2", "order": {"tip": ' + b"9" * 5000 + b"}}\n",
            b'{"idempotencyKey": "digits-3", "order": {"tip": NaN}}\n',
            b'{"idempotencyKey": "digits-4", "order": {"tip": 1e400}}\n',
            ndjson_line("digits-5", order_body()),
        ]
    )
    answers = post(body, token)
    assert [a.get("error", {}).get("code") for a in answers] == [None, *["INVALID_ARGUMENT"] * 3, None]
    assert [a["state"] for a in (answers[0], answers[4])] == ["COMPLETED", "COMPLETED"]
    assert "more digits than this server reads" in answers[1]["error"]["message"]
    assert "NaN, which is not a JSON number" in answers[2]["error"]["message"]
    assert "1e400, which is not a JSON number" in answers[3]["error"]["message"]
    assert OrderRequest.objects.count() == 2


def test_a_json_body_with_a_number_python_cannot_read_is_invalid_argument_without_python_s_advice(ways):  # noqa: F811
    before = stored()
    body = json.dumps(order_body()).replace('"quantity": 2', '"quantity": ' + "9" * 5000).encode()
    sink = b'{"attempt": ' + b"9" * 5000 + b"}"
    for name in ("rest", "function"):
        for path, raw in (("/api/v1/orders", body), ("/api/v1/error-sink/entries", sink)):
            answer = ways[name].send("POST", path, Raw(raw), Idempotency_Key="digits")
            assert (answer.code, details(answer)) == (  # before: Python's message, sys.set_int_max_str_digits() in it
                "INVALID_ARGUMENT",
                [("body", "holds a number with more digits than this server reads")],
            ), (name, path)
            assert "sys." not in answer.data["message"]
    assert stored() == before


@pytest.mark.parametrize(
    "when",
    [
        "2030-01-01T00:00:00Z\x00junk",
        "2030-01-01T00:00:00Z\n",
        "\u0662\u0660\u0663\u0660-01-01T00:00:00Z",  # Arabic-Indic digits
        "9999-12-31T23:59:59-14:00",
        "2030-01-01Z",  # a date alone (Python's fromisoformat reads "2030-01-01" as its midnight)
        "20300101T000000Z",  # ISO-8601's basic form
        "2030-W01-2T00:00:00Z",  # a week date
    ],
)
def test_a_malformed_delivery_time_is_refused_and_stores_nothing(ways, when):  # noqa: F811
    before = stored()
    for name in ("rest", "function", "protobuf", "grpc"):
        result = ways[name].create(order_body(deliveryTime=when), f"when-{name}")
        assert result.code == "INVALID_ARGUMENT", (name, result.data)
        assert [field for field, _ in details(result)] == ["deliveryTime"], name
    assert stored() == before


@pytest.mark.parametrize(
    "ready_by", ["2030-01-01T00:00:00Z\x00junk", "2030-01-01T00:00:00Z\n", "0001-01-01T00:00:00+14:00"]
)
def test_a_malformed_ready_by_is_refused_and_the_ticket_stays_undecided(ways, ready_by):  # noqa: F811
    manual = order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    order = ways["rest"].create(manual, "ready-by").order
    before = stored()
    result = ways["rest"].send("POST", f"/api/v1/tickets/{order['kitchenTicketId']}/accept", {"readyBy": ready_by})
    assert (result.http, result.code) == (400, "INVALID_ARGUMENT"), result.data
    assert stored() == before
    assert ways["rest"].get(order["orderId"]).order["state"] == "AWAITING_ACCEPTANCE"


@pytest.mark.parametrize("subscriber", ["a\x00b", "x\ud800y", "a\x85b", "line1\nline2"])
def test_a_subscriber_name_with_a_control_character_is_refused_before_it_is_stored(ways, subscriber):  # noqa: F811
    for path, body in (
        ("/api/v1/subscriptions/ack", {"publication": PUBLICATION, "subscriber": subscriber, "position": 0}),
        ("/api/v1/subscriptions/stream", {"publication": PUBLICATION, "subscriber": subscriber, "start": "now"}),
    ):
        result = ways["rest"].send("POST", path, body)
        assert (result.http, result.code) == (400, "INVALID_ARGUMENT"), (path, result.data)
        assert details(result) == [("subscriber", "1 to 200 characters, no control characters")]
    assert Subscriber.objects.count() == 0


def test_pickup_and_drop_off_take_no_body(ways):  # noqa: F811
    for courier, available in (("courier-ann", False), ("courier-ben", False), ("courier-max", True)):
        ways["rest"].send("PUT", f"/api/v1/couriers/{courier}/availability", {"available": available})
    manual = order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    order = ways["rest"].create(manual, "no-body").order
    ticket = order["kitchenTicketId"]
    dispatch = ways["rest"].send("POST", f"/api/v1/tickets/{ticket}/accept", {}).order["dispatchId"]
    before = stored()
    for route in ("pickup", "dropoff"):
        for body in ({"x": 1}, [1, 2], Raw(b"garbage", "text/plain")):
            result = ways["rest"].send("POST", f"/api/v1/deliveries/{dispatch}/{route}", body)
            assert (result.http, result.code) in ((400, "INVALID_ARGUMENT"), (415, "INVALID_ARGUMENT")), result.data
    assert stored() == before
    picked = ways["rest"].send("POST", f"/api/v1/deliveries/{dispatch}/pickup", {})
    assert picked.http == 200 and picked.order["state"] == "PICKED_UP", (picked.http, picked.data)
    assert ways["rest"].send("POST", f"/api/v1/deliveries/{dispatch}/dropoff").order["state"] == "COMPLETED"


def test_an_error_repeating_a_very_long_id_is_cut_and_grpc_still_answers_not_found(ways, api):  # noqa: F811
    long_id = "x" * 10_000
    over_grpc = ways["grpc"].get(long_id)  # before the cut: the client's RESOURCE_EXHAUSTED (9 KB of status headers)
    assert (over_grpc.code, over_grpc.grpc) == ("NOT_FOUND", "NOT_FOUND"), over_grpc
    assert len(over_grpc.data["message"]) == 400 and over_grpc.data["message"].endswith("…")
    over_rest = api.get(f"/api/v1/orders/{long_id}").json()["error"]  # in process: gunicorn refuses a 10 KB line
    assert over_rest["code"] == "NOT_FOUND" and over_rest["message"] == over_grpc.data["message"]


def test_a_batch_with_an_unreadable_id_answers_that_order_alone(demo_data):
    answers = bulk.place_orders([(order_body(consumer="al\ud800ice"), "surrogate-1"), (order_body(), "surrogate-2")])
    assert isinstance(answers[0], InvalidArgument)
    assert not isinstance(answers[1], ServiceError) and answers[1].view["state"] == "COMPLETED"


@pytest.mark.parametrize("reason", ["\x00", "why\x00 \x1b[31m", "x\ud800"])
def test_an_audited_action_refuses_a_reason_with_control_characters_and_does_nothing(demo_data, reason):
    from checkout import personal
    from checkout.models import Consumer

    before = stored()
    with pytest.raises(InvalidArgument) as refused:
        personal.erase("alice", actor="ops", reason=reason)
    assert [(d.field, d.issue) for d in refused.value.details] == [("reason", "must not contain control characters")]
    assert stored() == before and not personal.is_erased(Consumer.objects.get(pk="alice"))
    assert actions.check_who("ops", "line one\nline two\ttabbed") == ("ops", "line one\nline two\ttabbed")


@pytest.mark.parametrize("since", ["2026-02-30", "2026-13-01", "2026-01-01T25:00:00", "0001-01-01T00:00:00+14:00"])
def test_a_bulk_selection_since_that_is_no_time_is_invalid_argument(db, since):
    from checkout import bulk_selection

    with pytest.raises(InvalidArgument) as refused:
        bulk_selection.parse(since=since)
    assert [d.field for d in refused.value.details] == ["since"]


@pytest.mark.parametrize("payload", ['{"a": NaN}', "[Infinity]", "1e400"])
def test_an_error_sink_entry_over_grpc_with_a_payload_no_json_column_holds_is_invalid_argument(payload):
    from pipelines.protos import error_sink_pb2
    from pipelines.transport import sink_wire

    with pytest.raises(InvalidArgument) as refused:
        sink_wire.from_message(error_sink_pb2.ErrorSinkEntry(payload_json=payload))
    assert [d.field for d in refused.value.details] == ["payload_json"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_a_probe_route_answers_get_and_head_and_405_to_another_method(db, client, path):
    assert client.get(path).status_code in (200, 503) and client.head(path).status_code in (200, 503)  # readyz: 503
    for method in ("post", "put", "delete", "patch", "options", "trace"):
        assert getattr(client, method)(path).status_code == 405, method
