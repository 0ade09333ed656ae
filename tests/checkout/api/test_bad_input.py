"""Bad input is a 4xx with the error envelope on every transport that takes it, and stores nothing.

The limits (docs/api.md, "Limits"): a body over ``TPFGO_API_MAX_BODY_BYTES`` is 413 (gRPC: RESOURCE_EXHAUSTED),
JSON nested deeper than ``TPFGO_API_MAX_JSON_DEPTH`` 400, and a text field with a control character or an
unpaired surrogate 400, on SQLite and PostgreSQL alike (PostgreSQL cannot store a NUL; SQLite would).
"""

from __future__ import annotations

import io
import json
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from checkout import demo
from checkout.models import Consumer, Courier
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from pipelines.transport.wire_errors import describe
from tests.checkout.api.transports import DEFAULT, Raw
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

HTTP = ("rest", "function", "protobuf")
JSON_WAYS = ("rest", "function")
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture
def ways(transports: dict[str, Any]) -> dict[str, Any]:
    demo.load()
    return transports


def stored() -> tuple[dict[str, int], int]:
    return all_insert_only_counts(), Consumer.objects.count()


def details(result: Any) -> list[tuple[str, str]]:
    return [(d["field"], d["issue"]) for d in result.data["details"]]


def test_a_json_body_nested_past_the_limit_is_invalid_argument_and_stores_nothing(ways):
    before = stored()
    deep_enough_to_exhaust_the_stack = "[" * 100_000 + "]" * 100_000
    over_the_limit = json.dumps(order_body(items=[{"menuItemId": [[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]], "quantity": 1}]))
    for name in JSON_WAYS:
        for body in (deep_enough_to_exhaust_the_stack, over_the_limit):
            result = ways[name].create(Raw(body.encode()), f"deep-{name}")
            assert (result.http, result.code) == (400, "INVALID_ARGUMENT"), (name, result.data)
            assert details(result) == [("body", "nested deeper than 16 levels")], name
        consumer = ways[name].send("POST", "/api/v1/consumers", Raw(deep_enough_to_exhaust_the_stack.encode()))
        assert (consumer.http, consumer.code) == (400, "INVALID_ARGUMENT"), name
    assert stored() == before


def test_a_json_body_nested_within_the_limit_is_read(ways):
    within = order_body(items=[{"menuItemId": "margherita", "quantity": 1}])
    assert ways["rest"].create(Raw(json.dumps(within).encode()), "shallow").code == "OK"


def test_an_ingest_line_nested_too_deep_gets_its_own_error_line(ways):
    line = b'{"idempotencyKey": "deep-line", "order": ' + b"[" * 20_000 + b"]" * 20_000 + b"}\n"
    before = stored()
    result = ways["rest"].send("POST", "/api/v1/orders/ingest", Raw(line, "application/x-ndjson"))
    assert result.http == 200
    answer = json.loads(result.raw.decode().splitlines()[0])
    assert answer["error"]["code"] == "INVALID_ARGUMENT"
    assert "nested deeper than 16 levels" in answer["error"]["message"]
    assert stored() == before


def test_a_json_object_naming_a_key_twice_is_invalid_argument_and_stores_nothing(ways):
    before = stored()
    body = order_body()
    twice = json.dumps(body)[:-1] + ', "consumerId": "bob"}'  # which consumer? JSON readers disagree: refused
    item = json.dumps(body["items"][0])
    twice_in_an_item = json.dumps(body).replace(item, item[:-1] + ', "quantity": 99}')
    for name in JSON_WAYS:
        for raw, key in ((twice, "consumerId"), (twice_in_an_item, "quantity")):
            result = ways[name].create(Raw(raw.encode()), f"twice-{name}")
            assert (result.http, result.code) == (400, "INVALID_ARGUMENT"), (name, result.data)
            assert details(result) == [("body", f"holds the key {key!r} twice in one object")], name
    line = b'{"idempotencyKey": "twice-line", "order": ' + twice.encode() + b"}\n"
    result = ways["rest"].send("POST", "/api/v1/orders/ingest", Raw(line, "application/x-ndjson"))
    answer = json.loads(result.raw.decode().splitlines()[0])
    assert answer["error"]["code"] == "INVALID_ARGUMENT"
    assert answer["error"]["message"] == "line 1: the JSON holds the key 'consumerId' twice in one object"
    assert stored() == before
    assert ways["rest"].create(Raw(json.dumps(body).encode()), "twice-not").code == "OK"


def test_a_five_megabyte_body_is_413_with_the_envelope_on_every_http_transport(ways):
    before = stored()
    huge = json.dumps(order_body(deliveryAddress={"street1": "x" * FIVE_MB})).encode()
    for name in HTTP:
        result = ways[name].create(Raw(huge), f"huge-{name}")
        assert (result.http, result.code) == (413, "RESOURCE_EXHAUSTED"), (name, result.data)
        assert details(result) == [("body", f"larger than {1024 * 1024} bytes")], name
    consumer = ways["rest"].send("POST", "/api/v1/consumers", Raw(huge))
    assert (consumer.http, consumer.code) == (413, "RESOURCE_EXHAUSTED")
    assert stored() == before


def test_a_five_megabyte_grpc_message_is_resource_exhausted(ways):
    before = stored()
    request = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="x" * FIVE_MB)
    with pytest.raises(grpc.RpcError) as refused:
        ways["grpc"].stub.CreateOrder(request, metadata=ways["grpc"]._metadata(DEFAULT), timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stored() == before


@pytest.fixture
def small_limit(settings: Any) -> None:
    """A body limit of 1,000 bytes, set before ``grpc_target`` builds its server (its cap is 4 × the limit)."""
    settings.TPFGO_API_MAX_BODY_BYTES = 1000


def refusal(call: Any) -> tuple[grpc.StatusCode, dict[str, Any] | None]:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    status = rpc_status.from_call(refused.value)
    return refused.value.code(), describe(status) if status is not None else None


def test_a_grpc_message_over_the_body_limit_answers_the_projects_status(small_limit, grpc_target, token):
    """grpcio's core refused it ('Received message larger than max (1010 vs. 1000)'), the one error of the API with
    no google.rpc.Status, ErrorInfo or correlationId."""
    auth = [("authorization", f"Token {token}")]
    before = all_insert_only_counts()
    with grpc.insecure_channel(grpc_target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        big = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="x" * 1200)
        code, status = refusal(lambda: stub.CreateOrder(big, metadata=auth, timeout=30))
        untokened, _ = refusal(lambda: stub.CreateOrder(big, timeout=30))  # the token first, as on HTTP
        watch = orders_pb2.WatchOrderRequest(order_id="x" * 1200)
        watched, watch_status = refusal(lambda: list(stub.WatchOrder(watch, metadata=auth, timeout=30)))
        # Over the transport's cap (4 × the limit) grpcio's core answers before any of the project's code runs.
        huge = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="x" * 4001)
        capped, capped_status = refusal(lambda: stub.CreateOrder(huge, metadata=auth, timeout=30))
    assert code == watched == capped == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert untokened == grpc.StatusCode.UNAUTHENTICATED
    assert status is not None and status["message"].startswith("the request body is 12")
    assert status["message"].endswith("bytes; the limit is 1000 bytes (TPFGO_API_MAX_BODY_BYTES)")
    assert (status["code"], status["details"]) == (
        "RESOURCE_EXHAUSTED",
        [{"field": "body", "issue": "larger than 1000 bytes"}],
    )
    assert set(status["metadata"]) == {"correlationId"}
    assert watch_status is not None
    assert (watch_status["code"], watch_status["details"]) == (status["code"], status["details"])
    assert capped_status is None
    assert all_insert_only_counts() == before


def test_a_health_check_over_the_body_limit_answers_the_projects_status_too(settings, db):
    """grpcio's own services (health, reflection) go through MalformedRequests: the same Status as the project's."""
    from tests.system.conftest import free_port
    from tpfgo_site.grpc_server import build

    settings.TPFGO_API_MAX_BODY_BYTES = 1000
    address = f"127.0.0.1:{free_port()}"
    server, _ = build(address, max_workers=2)
    try:
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            code, status = refusal(lambda: health.Check(health_pb2.HealthCheckRequest(service="x" * 1200), timeout=10))
    finally:
        server.stop(grace=None).wait()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status is not None and status["details"] == [{"field": "body", "issue": "larger than 1000 bytes"}]
    assert set(status["metadata"]) == {"correlationId"}


def test_an_ingest_message_over_the_body_limit_is_its_own_error_and_the_stream_goes_on(small_limit, grpc_target, token):
    demo.load()
    auth = [("authorization", f"Token {token}")]
    order = orders_pb2.CreateOrderRequest(
        consumer_id="alice",
        restaurant_id="pizza-roma",
        items=[orders_pb2.OrderItem(menu_item_id="margherita", quantity=1)],
        delivery_address=orders_pb2.Address(street1="1 Main St", city="Oakland", state="CA", zip="94612"),
    )
    requests = [
        orders_pb2.IngestOrdersRequest(
            idempotency_key="big", order=orders_pb2.CreateOrderRequest(restaurant_id="x" * 1200)
        ),
        orders_pb2.IngestOrdersRequest(idempotency_key="small", order=order),
    ]
    with grpc.insecure_channel(grpc_target) as channel:
        answers = list(
            orders_pb2_grpc.OrderServiceStub(channel).IngestOrders(iter(requests), metadata=auth, timeout=60)
        )
    assert [(a.error.code, a.error.message) for a in answers] == [
        ("INVALID_ARGUMENT", "message 1: longer than 1000 bytes"),
        ("", ""),
    ]
    assert answers[1].state == "COMPLETED"
    assert OrderRequest.objects.count() == 1


def test_the_body_limit_is_a_setting(ways, settings):
    settings.TPFGO_API_MAX_BODY_BYTES = 100
    result = ways["function"].create(order_body(), "small-limit")
    assert (result.http, result.code) == (413, "RESOURCE_EXHAUSTED")
    assert "TPFGO_API_MAX_BODY_BYTES" in result.data["message"]


BAD_TEXT = {
    "a NUL byte": ("1 Main\x00St", "must not contain control characters"),
    "a control character": ("1 Main\x1bSt", "must not contain control characters"),
    "a C1 control character": ("1 Main\x85St", "must not contain control characters"),
    "a lone surrogate": ("1 Main\ud800St", "must not contain unpaired surrogates"),
}


@pytest.mark.parametrize("case", BAD_TEXT)
def test_a_bad_text_field_in_an_order_is_invalid_argument_on_every_transport(ways, case):
    text, issue = BAD_TEXT[case]
    before = stored()
    for name in ("rest", "function", "protobuf", "grpc"):
        if name in ("protobuf", "grpc") and case == "a lone surrogate":
            continue  # protobuf strings are UTF-8: a client cannot encode a lone surrogate at all
        body = order_body(deliveryAddress={"street1": text, "city": "Oakland", "state": "CA", "zip": "94612"})
        result = ways[name].create(body, f"text-{name}")
        assert result.code == "INVALID_ARGUMENT", (name, result.data)
        assert details(result) == [("deliveryAddress.street1", issue)], name
    assert stored() == before


BAD_TEXT_PLACES = {
    "an order's consumer id": (lambda way, text: way.create(order_body(consumer=f"alice{text}"), "id"), "consumerId"),
    "a consumer's name": (
        lambda way, text: way.send("POST", "/api/v1/consumers", {"id": "bob-2", "name": f"Bob{text}"}),
        "name",
    ),
}


@pytest.mark.parametrize("place", BAD_TEXT_PLACES)
@pytest.mark.parametrize("case", BAD_TEXT)
def test_a_bad_text_id_or_reference_field_is_invalid_argument_on_the_json_transports(ways, case, place):
    text, issue = BAD_TEXT[case]
    send, field = BAD_TEXT_PLACES[place]
    before = stored()
    for name in JSON_WAYS:
        result = send(ways[name], text)
        assert (result.http, result.code) == (400, "INVALID_ARGUMENT"), (name, result.data)
        assert details(result) == [(field, issue)], name
    assert stored() == before


def test_a_bad_text_in_a_cancellation_note_is_refused_before_anything_is_stored(ways):
    manual = order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    order_id = ways["rest"].create(manual, "note").order["orderId"]
    before = stored()
    for name in ("rest", "function", "protobuf", "grpc"):
        result = ways[name].cancel(order_id, note="changed\x00my mind")
        assert result.code == "INVALID_ARGUMENT", (name, result.data)
        assert details(result) == [("note", "must not contain control characters")], name
    assert stored() == before


@pytest.mark.parametrize("courier_id", ["a%00b", "a%1Bb", "%ED%A0%80", "a%C2%85b", "x" * 65])
def test_a_malformed_courier_id_in_the_url_is_not_found_on_both_backends(ways, courier_id):
    couriers = list(Courier.objects.order_by("id").values_list("id", "available"))
    for name in JSON_WAYS:
        result = ways[name].send("PUT", f"/api/v1/couriers/{courier_id}/availability", {"available": False})
        assert (result.http, result.code) == (404, "NOT_FOUND"), (name, result.data)
    assert list(Courier.objects.order_by("id").values_list("id", "available")) == couriers


def test_a_request_django_refuses_before_any_view_gets_the_envelope(api, demo_data):
    rows = all_insert_only_counts()
    response = api.post("/api/v1/orders", order_body(), format="json", HTTP_HOST="", HTTP_IDEMPOTENCY_KEY="no-host")
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert all_insert_only_counts() == rows


def chunked(client: Any, path: str, body: bytes, content_type: str, token: str, key: str) -> Any:
    """A POST as gunicorn hands a chunked upload to the application: no Content-Length, the decoded body in
    ``wsgi.input`` and ``wsgi.input_terminated`` set."""
    environ = {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}
    return client.post(
        path,
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Token {token}",
        HTTP_IDEMPOTENCY_KEY=key,
        HTTP_ACCEPT=content_type,
        **environ,
    )


def test_a_chunked_body_is_read_within_the_body_limit_on_every_http_route(db, token, settings):
    """Django and DRF read a body by its Content-Length only: a chunked order was read as empty and answered
    400 'consumerId: is required' (a protobuf one the same), however large it was."""
    from django.test import Client

    demo.load()
    client = Client()
    placed = chunked(client, "/api/v1/orders", json.dumps(order_body()).encode(), "application/json", token, "c-1")
    message = orders_pb2.CreateOrderRequest(
        consumer_id="alice",
        restaurant_id="pizza-roma",
        items=[orders_pb2.OrderItem(menu_item_id="margherita", quantity=1)],
        delivery_address=orders_pb2.Address(street1="1 Main St", city="Oakland", state="CA", zip="94612"),
    )
    proto = chunked(client, "/api/v1/orders", message.SerializeToString(), "application/x-protobuf", token, "c-2")
    assert (placed.status_code, placed.json()["state"]) == (201, "COMPLETED")
    assert (proto.status_code, orders_pb2.Order.FromString(proto.content).state) == (201, "COMPLETED")
    before = stored()
    settings.TPFGO_API_MAX_BODY_BYTES = 100
    big = chunked(client, "/api/v1/orders", json.dumps(order_body()).encode(), "application/json", token, "c-3")
    assert big.status_code == 413
    error = big.json()["error"]
    assert (error["code"], error["details"]) == (
        "RESOURCE_EXHAUSTED",
        [{"field": "body", "issue": "larger than 100 bytes"}],
    )
    assert error["message"] == "the request body is more than 100 bytes, the limit (TPFGO_API_MAX_BODY_BYTES)"
    assert stored() == before
