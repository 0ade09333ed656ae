"""Idempotency keys are global: an order's id derives from its key alone, so a key one consumer used answers another
consumer 409 ``ALREADY_EXISTS``. The answer says so and what to do (a new key of the client's own), and reveals
nothing of the other consumer's order: not its id, its consumer, its restaurant or its state."""

from __future__ import annotations

import json

import grpc
import pytest
from grpc_status import rpc_status
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import demo, messages
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGE = (
    "this {} was already used with a different request; keys are global, shared by every client and consumer, so it "
    "may have been another's: send this order with a new key of your own (a UUID)"
)


def client(consumer: str) -> tuple[APIClient, str]:
    key = create_token(kind="ordering-client", binding=consumer).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api, key


def secrets_of(placed: dict) -> list[str]:
    """What the answer to another consumer must not hold: the first order's id, consumer, restaurant, state."""
    return [placed["orderId"], placed["consumerId"], placed["restaurantId"], placed["state"], "pizza"]


def test_another_consumers_key_is_refused_saying_keys_are_global_and_nothing_of_that_order(grpc_target):
    demo.load()
    alice, _ = client("alice")
    bob, bob_key = client("bob")
    placed = alice.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-1").json()
    rows = all_insert_only_counts()

    refused = bob.post("/api/v1/orders", order_body(consumer="bob"), format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == ("ALREADY_EXISTS", MESSAGE.format("Idempotency-Key"))
    assert error["details"] == [{"field": "Idempotency-Key", "issue": "reused with a different request"}]
    assert set(refused.headers) & {"Location", "Idempotent-Replayed"} == set()
    assert not any(secret in json.dumps(refused.json()) for secret in secrets_of(placed))

    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(grpc_target))
    request = messages.to_message(order_body(consumer="bob"), orders_pb2.CreateOrderRequest)
    request.idempotency_key = "order-1"
    with pytest.raises(grpc.RpcError) as call:
        stub.CreateOrder(request, metadata=[("authorization", f"Token {bob_key}")], timeout=30)
    assert (call.value.code(), call.value.details()) == (
        grpc.StatusCode.ALREADY_EXISTS,
        MESSAGE.format("idempotency_key"),
    )
    status = rpc_status.from_call(call.value).SerializeToString()
    assert not any(secret.encode() in status for secret in secrets_of(placed))
    assert dict(call.value.trailing_metadata()).get("idempotent-replayed") is None

    assert all_insert_only_counts() == rows
    assert list(OrderRequest.objects.values_list("request_id", flat=True)) == ["order-1"]
