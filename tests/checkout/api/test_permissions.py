"""The permission matrix: each principal × each route × each transport, allowed or PERMISSION_DENIED.

Every call is a probe that stores nothing even when allowed (a body the route refuses after the permission, an
order that already moved on), so an allowed call answers the route's own refusal and a denied one answers 403 /
PERMISSION_DENIED; the rows of every insert-only table and of the reference data are the same before and after
each principal's calls. "Other" principals hold the same scopes as their namesakes but are bound to another
consumer, restaurant or courier: they are refused on what is not theirs, and an order, ticket or dispatch of someone
else's answers them the NOT_FOUND an id that names nothing answers (they cannot probe ids for existence).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from access.models import Principal
from access.tokens import create_token, revoke_token
from checkout import demo, reference, services
from checkout.models import Consumer, Courier, Restaurant
from pipelines.engine import stream_gauges
from pipelines.protos import error_sink_pb2, subscriptions_pb2
from tests.checkout.api.transports import MALFORMED
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

PRINCIPALS = {
    "ordering-client": ("ordering-client", "alice"),
    "other-ordering-client": ("ordering-client", "bob"),
    "restaurant": ("restaurant", "chez-manuel"),
    "other-restaurant": ("restaurant", "ajanta"),
    "courier": ("courier", "courier-max"),
    "other-courier": ("courier", "courier-ann"),
    "error-sink": ("error-sink", ""),
    "ftgo-gateway": ("ftgo-gateway", ""),
    "subscriber": ("subscriber", ""),
    "ops": ("ops", ""),
}
CLIENTS = frozenset({"ordering-client", "ftgo-gateway", "ops"})
OPS = frozenset({"ops"})
SUBSCRIBERS = frozenset({"subscriber", "ops"})
UNIMPLEMENTED = "UNIMPLEMENTED"
BAD_ORDER = order_body(items=[{"menuItemId": "sushi", "quantity": 1}])  # alice's, refused after the permission
LONG_NOTE = "x" * 501


@dataclass(frozen=True)
class Route:
    """One route: who may call it, the probe per transport, and what an allowed probe answers."""

    allowed: frozenset[str]
    method: str = ""
    path: str = ""  # {order}, {ticket}, {dispatch}: the fixture's ids
    body: Any = None
    answer: str = "INVALID_ARGUMENT"  # an allowed probe's code on REST and FUNCTION
    protobuf: str = UNIMPLEMENTED  # ... on protobuf-over-HTTP (a route without gRPC messages: 501 once permitted)
    function: str = ""  # ... on FUNCTION when it differs from REST
    grpc: str = ""  # the gRPC method, when the route has one
    grpc_answer: str = ""
    skip: tuple[str, ...] = field(default=())

    @property
    def names_a_resource(self) -> bool:
        """Whether the route names an order, ticket or dispatch (hidden from a bound principal not its owner)."""
        return any(f"{{{what}}}" in self.path for what in ("order", "ticket", "dispatch")) or self.grpc in (
            "GetOrder",
            "GetLineage",
            "WatchOrder",
            "CancelOrder",
            "ReviseOrder",
        )


ROUTES = {
    "place an order": Route(
        CLIENTS, "POST", "/api/v1/orders", BAD_ORDER, protobuf="INVALID_ARGUMENT", grpc="CreateOrder"
    ),
    "ingest orders": Route(
        frozenset({"ftgo-gateway", "ops"}),
        "POST",
        "/api/v1/orders/ingest",
        {},
        function=UNIMPLEMENTED,
        grpc="IngestOrders",
        grpc_answer="OK",
    ),
    "read an order": Route(CLIENTS, "GET", "/api/v1/orders/{order}", answer="OK", protobuf="OK", grpc="GetOrder"),
    "read its lineage": Route(
        CLIENTS, "GET", "/api/v1/orders/{order}/lineage", answer="OK", protobuf="OK", grpc="GetLineage"
    ),
    "cancel an order": Route(
        CLIENTS,
        "POST",
        "/api/v1/orders/{order}/cancel",
        {"note": LONG_NOTE},
        protobuf="INVALID_ARGUMENT",
        grpc="CancelOrder",
    ),
    "revise an order": Route(
        CLIENTS,
        "POST",
        "/api/v1/orders/{order}/revise",
        {"items": []},
        protobuf="INVALID_ARGUMENT",
        grpc="ReviseOrder",
    ),
    "accept a ticket": Route(
        frozenset({"restaurant", "ftgo-gateway", "ops"}), "POST", "/api/v1/tickets/{ticket}/accept", {"bogus": 1}
    ),
    "reject a ticket": Route(
        frozenset({"restaurant", "ftgo-gateway", "ops"}), "POST", "/api/v1/tickets/{ticket}/reject", {"bogus": 1}
    ),
    "confirm a pickup": Route(
        frozenset({"courier", "ftgo-gateway", "ops"}),
        "POST",
        "/api/v1/deliveries/{dispatch}/pickup",
        answer="OK",  # the delivered order's own step again: a replay that inserts nothing
    ),
    "confirm a drop-off": Route(
        frozenset({"courier", "ftgo-gateway", "ops"}),
        "POST",
        "/api/v1/deliveries/{dispatch}/dropoff",
        answer="OK",  # the delivered order's own step again: a replay that inserts nothing
    ),
    "set a courier's availability": Route(
        frozenset({"courier", "ftgo-gateway", "ops"}), "PUT", "/api/v1/couriers/courier-max/availability", {}
    ),
    "watch an order": Route(CLIENTS, grpc="WatchOrder", grpc_answer="OK"),  # gRPC only: a stream
    "list restaurants": Route(
        frozenset({"ordering-client", "other-ordering-client", "ftgo-gateway", "ops"}),
        "GET",
        "/api/v1/restaurants",
        answer="OK",
    ),
    "create a restaurant": Route(OPS, "POST", "/api/v1/restaurants", {}),
    "list consumers": Route(OPS, "GET", "/api/v1/consumers", answer="OK"),
    "create a consumer": Route(OPS, "POST", "/api/v1/consumers", {}),
    "list couriers": Route(OPS, "GET", "/api/v1/couriers", answer="OK"),
    "create a courier": Route(OPS, "POST", "/api/v1/couriers", {}),
    "record an error-sink entry": Route(
        frozenset({"error-sink", "ops"}),
        "POST",
        "/api/v1/error-sink/entries",
        {},
        grpc="Record",
    ),
    "follow a publication": Route(
        SUBSCRIBERS, "POST", "/api/v1/subscriptions/stream", {}, function=UNIMPLEMENTED, grpc="Subscribe"
    ),
    "acknowledge a position": Route(SUBSCRIBERS, "POST", "/api/v1/subscriptions/ack", {}, grpc="Acknowledge"),
}


@pytest.fixture
def world(transports: dict[str, Any]) -> dict[str, Any]:
    """Alice's order waiting at Chez Manuel (its ticket), and her delivered order (its dispatch: courier Max)."""
    # A fresh ingest gate: test_schema's schemathesis run leaves its streamed answers unclosed (their slots held).
    stream_gauges.reset_for_tests()
    demo.load()
    for courier, available in (("courier-ann", False), ("courier-ben", False), ("courier-max", True)):
        reference.set_courier_availability(courier, available)
    waiting = services.place_order(
        order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]), "matrix-waiting"
    ).view
    delivered = services.place_order(order_body(), "matrix-delivered").view
    services.pickup(delivered["dispatchId"])
    assert services.dropoff(delivered["dispatchId"])["state"] == "COMPLETED"
    assert waiting["state"] == "AWAITING_ACCEPTANCE"
    ids = {
        "order": waiting["orderId"],
        "ticket": waiting["kitchenTicketId"],
        "dispatch": delivered["dispatchId"],
        "delivered": delivered["orderId"],
    }
    tokens = {
        name: create_token(kind=kind, binding=binding, name=name).key for name, (kind, binding) in PRINCIPALS.items()
    }
    return {"transports": transports, "ids": ids, "tokens": tokens}


def stored() -> tuple[Any, ...]:
    """Everything a call could store: insert-only rows, reference data, couriers' availability, principals."""
    return (
        all_insert_only_counts(),
        Consumer.objects.count(),
        Restaurant.objects.count(),
        list(Courier.objects.order_by("id").values_list("id", "available")),
        Token.objects.count(),
        Principal.objects.count(),
    )


def probe(transport: str, client: Any, route: Route, ids: dict[str, str], token: str) -> str | None:
    """The probe's code, or None where the transport does not serve the route."""
    if transport == "grpc":
        if not route.grpc:
            return None
        return grpc_probe(client, route.grpc, ids, token).code
    if not route.path:
        return None
    body = None if transport == "protobuf" and route.protobuf == UNIMPLEMENTED else route.body
    return client.send(route.method, route.path.format(**ids), body, token, Idempotency_Key="matrix-probe").code


def grpc_probe(client: Any, method: str, ids: dict[str, str], token: str) -> Any:
    if method == "CreateOrder":
        return client.create(BAD_ORDER, "matrix-probe", token)
    if method == "IngestOrders":
        return client.ingest([], token)
    if method == "GetOrder":
        return client.get(ids["order"], token)
    if method == "WatchOrder":
        return client.watch(ids["delivered"], token)
    if method == "GetLineage":
        return client.lineage(ids["order"], token)
    if method == "CancelOrder":
        return client.cancel(ids["order"], LONG_NOTE, token)
    if method == "ReviseOrder":
        return client.revise(ids["order"], {"items": []}, "matrix-probe", token)
    if method == "Subscribe":
        return client.subscribe(subscriptions_pb2.SubscribeRequest(), token)
    if method == "Acknowledge":
        return client.acknowledge(subscriptions_pb2.AcknowledgeRequest(), token)
    assert method == "Record"
    return client.record(error_sink_pb2.ErrorSinkEntry(), token)


def expected_answer(transport: str, route: Route, principal: str) -> str:
    if principal in route.allowed:
        return allowed_answer(transport, route)
    if principal.removeprefix("other-") in route.allowed and route.names_a_resource:
        return "NOT_FOUND"  # someone else's order, ticket or dispatch: as if it did not exist
    return "PERMISSION_DENIED"


def allowed_answer(transport: str, route: Route) -> str:
    if transport == "grpc":
        return route.grpc_answer or route.answer
    if transport == "protobuf":
        return route.protobuf
    if transport == "function":
        return route.function or route.answer
    return route.answer


@pytest.mark.parametrize("transport", ["rest", "grpc", "function", "protobuf"])
def test_each_principal_is_allowed_exactly_its_routes_and_a_denied_call_stores_nothing(world, transport):
    client, ids = world["transports"][transport], world["ids"]
    expected: dict[tuple[str, str], str] = {}
    got: dict[tuple[str, str], str] = {}
    for principal, token in world["tokens"].items():
        before = stored()
        for name, route in ROUTES.items():
            code = probe(transport, client, route, ids, token)
            if code is None:
                continue
            got[principal, name] = code
            expected[principal, name] = expected_answer(transport, route, principal)
        assert stored() == before, principal
    assert got == expected
    served = [route for route in ROUTES.values() if (route.grpc if transport == "grpc" else route.path)]
    assert len(got) == len(PRINCIPALS) * len(served) == len(PRINCIPALS) * (10 if transport == "grpc" else 20)


def test_a_revoked_token_is_unauthenticated_and_a_token_without_a_principal_is_denied_everywhere(world):
    order, rest = world["ids"]["order"], world["transports"]["rest"]
    old = world["tokens"]["ordering-client"]
    assert revoke_token("ordering-client") == 1
    assert rest.get(order, old).code == "UNAUTHENTICATED"
    new = create_token(kind="ordering-client", binding="alice", name="ordering-client").key
    assert rest.get(order, new).code == "OK"

    bare = Token.objects.create(user=get_user_model().objects.create_user("bare")).key  # made by hand, no principal
    before = stored()
    codes = {name: world["transports"][name].get(order, bare).code for name in ("rest", "grpc", "function", "protobuf")}
    assert codes == dict.fromkeys(codes, "PERMISSION_DENIED")
    assert world["transports"]["grpc"].create(order_body(), "bare-order", bare).code == "PERMISSION_DENIED"
    assert stored() == before


def test_a_bound_principal_gets_the_routes_own_answer_for_an_id_or_body_that_names_no_one(world):
    alice = world["tokens"]["ordering-client"]
    before = stored()
    for name in ("rest", "grpc", "function", "protobuf"):
        client = world["transports"][name]
        for order_id in (str(uuid.UUID(int=7)), "not-an-order-id"):
            codes = [client.get(order_id, alice).code, client.cancel(order_id, None, alice).code]
            assert codes == ["NOT_FOUND", "NOT_FOUND"], (name, order_id)
        assert client.create(MALFORMED, "bound-malformed", alice).code == "INVALID_ARGUMENT", name
        assert client.create({**order_body(), "consumerId": ""}, "bound-empty", alice).code == "PERMISSION_DENIED"
    assert stored() == before


def error_of(answer: Any) -> tuple[str, str]:
    """(code, message) of an answer on any transport."""
    data = answer.data or {}
    return answer.code, str(data.get("error", data).get("message"))


def test_someone_elses_order_ticket_or_dispatch_answers_a_bound_principal_as_an_id_that_names_nothing(world):
    """Order ids derive from idempotency keys: a 403 for Alice's order and a 404 for no order told Bob which keys
    Alice had used. Both answer NOT_FOUND with the same message, the id aside."""
    bob, ids, nothing = world["tokens"]["other-ordering-client"], world["ids"], str(uuid.UUID(int=7))
    before = stored()
    for name in ("rest", "grpc", "function", "protobuf"):
        client = world["transports"][name]
        for order_id in (ids["order"], ids["delivered"]):
            for call in (
                lambda c, oid: c.get(oid, bob),
                lambda c, oid: c.lineage(oid, bob),
                lambda c, oid: c.cancel(oid, None, bob),
                lambda c, oid: c.revise(oid, {"items": []}, "probe", bob),
            ):
                code, message = error_of(call(client, order_id))
                absent_code, absent_message = error_of(call(client, nothing))
                assert (code, message) == (absent_code, absent_message.replace(nothing, order_id)), name
                assert (code, message) == ("NOT_FOUND", f"order {order_id} not found"), name
    rest = world["transports"]["rest"]
    for what, path, token in (
        ("ticket", "/api/v1/tickets/{}/accept", world["tokens"]["other-restaurant"]),
        ("dispatch", "/api/v1/deliveries/{}/pickup", world["tokens"]["other-courier"]),
    ):
        answer = rest.send("POST", path.format(ids[what]), {}, token)
        assert error_of(answer) == ("NOT_FOUND", f"{what} {ids[what]} not found")
        assert error_of(rest.send("POST", path.format(nothing), {}, token)) == (
            "NOT_FOUND",
            f"{what} {nothing} not found",
        )
    assert stored() == before
