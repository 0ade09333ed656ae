"""An idempotency key's error names the key as its client sent it: the gRPC field ``idempotency_key`` or metadata
``idempotency-key``, an ``IngestOrders`` message's ``idempotency_key`` or ``order.idempotency_key``, an NDJSON line's
``idempotencyKey``, a protobuf body's ``idempotency_key``, REST's header ``Idempotency-Key``. Every one was told
about the ``Idempotency-Key`` header, which a gRPC client never sent."""

from __future__ import annotations

import json

import grpc
import pytest
from django.test import Client
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from checkout import demo, messages, services
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)
REUSED = (
    "this {} was already used with a different request; keys are global, shared by every client and consumer, so it "
    "may have been another's: send this order with a new key of your own (a UUID)"
)
REQUIRED = "{} is required: 1-128 characters of A-Za-z0-9._:-"


def refusal(call, request, metadata) -> tuple[str, str, list[str]]:
    with pytest.raises(grpc.RpcError) as refused:
        call(request, metadata=metadata, timeout=30)
    bad = error_details_pb2.BadRequest()
    for detail in rpc_status.from_call(refused.value).details:
        if detail.Is(bad.DESCRIPTOR):
            detail.Unpack(bad)
    return refused.value.code().name, refused.value.details(), [v.field for v in bad.field_violations]


def test_a_grpc_call_is_told_about_the_field_or_the_metadata_it_used(grpc_target, token):
    demo.load()
    auth = ("authorization", f"Token {token}")
    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(grpc_target))
    first = messages.to_message(order_body(), orders_pb2.CreateOrderRequest)
    first.idempotency_key = "named-key"
    stub.CreateOrder(first, metadata=[auth], timeout=30)
    other = messages.to_message(order_body(consumer="bob"), orders_pb2.CreateOrderRequest)
    rows = OrderRequest.objects.count()

    other.idempotency_key = "named-key"
    assert refusal(stub.CreateOrder, other, [auth]) == (
        "ALREADY_EXISTS",
        REUSED.format("idempotency_key"),
        ["idempotency_key"],
    )
    other.ClearField("idempotency_key")
    assert refusal(stub.CreateOrder, other, [auth, ("idempotency-key", "named-key")]) == (
        "ALREADY_EXISTS",
        REUSED.format("idempotency-key"),
        ["idempotency-key"],
    )
    assert refusal(stub.CreateOrder, other, [auth]) == (
        "INVALID_ARGUMENT",
        REQUIRED.format("idempotency_key (or idempotency-key)"),
        ["idempotency_key (or idempotency-key)"],
    )
    assert OrderRequest.objects.count() == rows == 1


def test_an_ingest_orders_message_is_told_about_its_own_field(grpc_target, token):
    demo.load()
    auth = [("authorization", f"Token {token}")]
    bob = messages.to_message(order_body(consumer="bob"), orders_pb2.CreateOrderRequest)
    services.place_order(order_body(), "stream-key")  # before the stream: its lines may be placed in any order
    requests = [
        orders_pb2.IngestOrdersRequest(idempotency_key="stream-key", order=bob),
        orders_pb2.IngestOrdersRequest(
            order=orders_pb2.CreateOrderRequest(idempotency_key="stream-key", **_fields(bob))
        ),
        orders_pb2.IngestOrdersRequest(order=bob),
    ]
    with grpc.insecure_channel(grpc_target) as channel:
        answers = list(
            orders_pb2_grpc.OrderServiceStub(channel).IngestOrders(iter(requests), metadata=auth, timeout=60)
        )
    assert [(a.error.code, a.error.message) for a in answers] == [
        ("ALREADY_EXISTS", REUSED.format("idempotency_key")),
        ("ALREADY_EXISTS", REUSED.format("order.idempotency_key")),
        ("INVALID_ARGUMENT", REQUIRED.format("order.idempotency_key (or idempotency_key)")),
    ]
    assert OrderRequest.objects.count() == 1


def _fields(order: orders_pb2.CreateOrderRequest) -> dict:
    return {field.name: value for field, value in order.ListFields()}


def test_an_ndjson_line_is_told_about_its_idempotency_key_field(token):
    demo.load()
    services.place_order(order_body(), "line-key")  # before the stream: its lines may be placed in any order
    body = b"".join(
        json.dumps(line).encode() + b"\n"
        for line in (
            {"idempotencyKey": "line-key", "order": order_body(consumer="bob")},
            {"order": order_body(consumer="bob")},
        )
    )
    response = Client().post(
        "/api/v1/orders/ingest", body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Token {token}"
    )
    answers = [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]
    assert [a.get("error", {}).get("message") for a in answers] == [
        REUSED.format("idempotencyKey"),
        REQUIRED.format("idempotencyKey"),
    ]
    assert OrderRequest.objects.count() == 1


def test_rest_names_its_header_and_a_protobuf_body_its_field(api):
    demo.load()
    assert api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="rest-key").status_code == 201
    header = api.post("/api/v1/orders", order_body(consumer="bob"), format="json", HTTP_IDEMPOTENCY_KEY="rest-key")
    assert header.json()["error"]["message"] == REUSED.format("Idempotency-Key")
    message = messages.to_message(order_body(consumer="bob"), orders_pb2.CreateOrderRequest)
    message.idempotency_key = "rest-key"
    field = api.post(
        "/api/v1/orders",
        message.SerializeToString(),
        content_type="application/x-protobuf",
        HTTP_ACCEPT="application/json",
    )
    assert (field.status_code, field.json()["error"]["message"]) == (409, REUSED.format("idempotency_key"))
    assert field.json()["error"]["details"] == [
        {"field": "idempotency_key", "issue": "reused with a different request"}
    ]
    assert OrderRequest.objects.count() == 1
