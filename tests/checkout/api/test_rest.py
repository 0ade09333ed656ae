"""REST specifics: the token before anything else, the error envelope for every refusal, the manual routes,
reference data, protobuf-over-HTTP formats, and bad input on every route storing nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from google.rpc import status_pb2
from rest_framework.test import APIClient

from checkout import demo
from checkout.models import Consumer, Courier, Restaurant
from checkout.protos import orders_pb2
from pipelines.models import ParkedItem
from pipelines.transport.wire_errors import describe
from tests.checkout.api.test_internal_error_scrubbed import ECHOING, parking_table_gone
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

PROTOBUF = "application/x-protobuf"
UNKNOWN = str(uuid.UUID(int=42))


@pytest.fixture
def demo_data(db):
    demo.load()


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details", "correlationId"}
    assert body["error"]["correlationId"]
    return body["error"]


def place(api: APIClient, key: str, **kwargs) -> dict:
    response = api.post("/api/v1/orders", order_body(**kwargs), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_a_new_order_is_201_with_its_location_and_a_replay_is_200_flagged(api, demo_data):
    first = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="rest-1")
    again = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="rest-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first["Location"] == f"/api/v1/orders/{first.json()['orderId']}"
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert again.json()["orderId"] == first.json()["orderId"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("post", "/api/v1/orders", {}, "{not json"),  # malformed body
        ("delete", "/api/v1/orders", {}, None),  # method not allowed
        ("get", "/api/v1/consumers", {"HTTP_ACCEPT": "text/csv"}, None),  # not acceptable
        ("post", "/api/v1/consumers", {"CONTENT_TYPE": "text/plain"}, "x"),  # unsupported media type
        ("post", "/api/v1/restaurants", {"CONTENT_TYPE": PROTOBUF}, "x"),  # protobuf where there is no message
    ],
)
def test_the_token_is_checked_before_anything_else(db, method, path, headers, body):
    client = APIClient()
    kwargs = {"data": body, "content_type": headers.pop("CONTENT_TYPE", "application/json")} if body else {}
    for credentials in ({}, {"HTTP_AUTHORIZATION": "Token wrong"}, {"HTTP_AUTHORIZATION": "Bearer x"}):
        response = getattr(client, method)(path, **kwargs, **headers, **credentials)
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"] == "Token"
        if response["Content-Type"] == PROTOBUF:
            assert describe(status_pb2.Status.FromString(response.content))["code"] == "UNAUTHENTICATED"
        else:
            assert error(response)["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("delete", "/api/v1/orders", {}, 405),
        ("put", f"/api/v1/orders/{UNKNOWN}", {}, 405),
        ("get", "/api/v1/consumers", {"HTTP_ACCEPT": "text/csv"}, 406),
        ("get", f"/api/v1/orders/{UNKNOWN}?format=xml", {}, 406),
        ("post", "/api/v1/consumers", {"data": "x", "content_type": "text/plain"}, 415),
        ("post", "/api/v1/orders", {"data": "x", "content_type": "application/x-www-form-urlencoded"}, 415),
    ],
)
def test_method_format_and_media_type_refusals_use_the_envelope_with_invalid_argument(
    api, method, path, kwargs, status
):
    response = getattr(api, method)(path, **kwargs)
    assert response.status_code == status
    assert error(response)["code"] == "INVALID_ARGUMENT"


def test_every_route_that_takes_a_body_documents_the_413_and_415_it_answers(api):
    """Every POST and PUT is bounded by TPFGO_API_MAX_BODY_BYTES and reads JSON only (pickup and drop-off take no
    body, and still refuse one that is not JSON); the NDJSON ingest route is bounded line by line instead."""
    paths = api.get("/api/v1/schema?format=json").json()["paths"]
    with_body = {
        (path, method): set(op["responses"])
        for path, ops in paths.items()
        for method, op in ops.items()
        if method in ("post", "put") and path != "/api/v1/orders/ingest"
    }
    assert len(with_body) == 22
    assert [route for route, answers in with_body.items() if not {"413", "415"} <= answers] == []
    assert "413" not in paths["/api/v1/orders/ingest"]["post"]["responses"]


def test_an_unknown_api_path_is_not_found_in_the_envelope(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404 and error(response)["code"] == "NOT_FOUND"


def test_a_server_error_is_internal_without_a_traceback(api, settings, demo_data):
    settings.TPFGO_PAYMENT_GATEWAY = ECHOING  # the payment step fails; its failure cannot be parked: unexpected
    with parking_table_gone():
        response = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-500")
        protobuf = api.post(
            "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-501", HTTP_ACCEPT=PROTOBUF
        )
    assert response.status_code == 500
    body = error(response)
    assert body["code"] == "INTERNAL"
    for internals in ("Traceback", "gateway answered", ParkedItem._meta.db_table):
        assert internals not in response.content.decode()
        assert internals.encode() not in protobuf.content
    assert protobuf.status_code == 500
    assert describe(status_pb2.Status.FromString(protobuf.content))["code"] == "INTERNAL"


def test_manual_acceptance_and_manual_delivery_run_through_the_routes(api, demo_data):
    for courier, available in (("courier-ann", False), ("courier-ben", False), ("courier-max", True)):
        response = api.put(f"/api/v1/couriers/{courier}/availability", {"available": available}, format="json")
        assert response.status_code == 200 and response.json()["available"] is available
    order = place(api, "rest-manual", restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    assert order["state"] == "AWAITING_ACCEPTANCE"
    ticket = order["kitchenTicketId"]
    accepted = api.post(f"/api/v1/tickets/{ticket}/accept", {"readyBy": "2030-01-01T12:00:00Z"}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "DISPATCHED"
    twice = api.post(f"/api/v1/tickets/{ticket}/reject", {"reason": "too late"}, format="json")
    assert twice.status_code == 412 and error(twice)["code"] == "FAILED_PRECONDITION"
    dispatch = accepted.json()["dispatchId"]
    early = api.post(f"/api/v1/deliveries/{dispatch}/dropoff")
    assert early.status_code == 412
    assert api.post(f"/api/v1/deliveries/{dispatch}/pickup").json()["state"] == "PICKED_UP"
    again = api.post(f"/api/v1/deliveries/{dispatch}/pickup")  # the same command: a replay, the same answer
    assert (again.status_code, again.json()["state"]) == (200, "PICKED_UP")
    assert api.post(f"/api/v1/deliveries/{dispatch}/dropoff").json()["state"] == "COMPLETED"


def test_a_ticket_can_be_rejected(api, demo_data):
    order = place(api, "rest-reject", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 2}])
    rejected = api.post(f"/api/v1/tickets/{order['kitchenTicketId']}/reject", {"reason": "closed"}, format="json")
    assert rejected.status_code == 200
    assert (rejected.json()["state"], rejected.json()["reason"]) == ("CANCELLED", "RESTAURANT_DECLINED")


def test_reference_data_can_be_listed_created_and_refused(api, demo_data):
    consumers = api.get("/api/v1/consumers").json()["results"]
    assert {c["id"] for c in consumers} >= {"alice", "bob"}
    assert {
        "id": "bob",
        "name": "Bob Brown",
        "active": True,
        "paymentToken": "…k_ok",
    } in consumers  # the token on file, as an ops principal sees it
    created = api.post("/api/v1/consumers", {"id": "erin", "name": "Erin"}, format="json")
    assert created.status_code == 201 and created.json() == {"id": "erin", "name": "Erin", "active": True}
    duplicate = api.post("/api/v1/consumers", {"id": "erin", "name": "Erin again"}, format="json")
    assert duplicate.status_code == 409 and error(duplicate)["code"] == "ALREADY_EXISTS"
    restaurant = {
        "id": "deli",
        "name": "Deli",
        "address": "3 Side St",
        "orderMinimum": "5.00",
        "acceptanceMode": "manual",
        "menu": [{"id": "bagel", "name": "Bagel", "price": "2.5"}],
    }
    response = api.post("/api/v1/restaurants", restaurant, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["menu"] == [{"id": "bagel", "name": "Bagel", "price": "2.50"}]
    assert response.json()["currency"] == "USD"
    listed = {r["id"]: r for r in api.get("/api/v1/restaurants").json()["results"]}
    assert listed["deli"] == response.json()
    courier = api.post("/api/v1/couriers", {"id": "zed", "name": "Zed", "completionMode": "manual"}, format="json")
    assert courier.json() == {"id": "zed", "name": "Zed", "available": True, "completionMode": "manual"}
    missing = api.put("/api/v1/couriers/nobody/availability", {"available": True}, format="json")
    assert missing.status_code == 404 and error(missing)["code"] == "NOT_FOUND"


def test_invalid_reference_data_names_each_bad_field(api, demo_data):
    body = {"id": "bad id", "name": "", "menu": [{"id": "x", "name": "X", "price": "-1"}], "acceptanceMode": "maybe"}
    response = api.post("/api/v1/restaurants", body, format="json")
    assert response.status_code == 400
    fields = {d["field"] for d in error(response)["details"]}
    assert fields == {"id", "name", "address", "acceptanceMode", "menu[0].price"}
    assert not Restaurant.objects.filter(name="").exists()


def test_protobuf_answers_follow_accept_else_content_type(api, demo_data):
    body = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="pizza-roma")
    body.items.add(menu_item_id="margherita", quantity=1)
    body.delivery_address.CopyFrom(orders_pb2.Address(street1="1 Main St", city="Oakland", state="CA", zip="94612"))
    raw = body.SerializeToString()
    as_protobuf = api.post("/api/v1/orders", raw, content_type=PROTOBUF, HTTP_IDEMPOTENCY_KEY="rest-pb")
    assert as_protobuf.status_code == 201 and as_protobuf["Content-Type"] == PROTOBUF
    order = orders_pb2.Order.FromString(as_protobuf.content)
    as_json = api.post(
        "/api/v1/orders", raw, content_type=PROTOBUF, HTTP_ACCEPT="application/json", HTTP_IDEMPOTENCY_KEY="rest-pb"
    )
    assert as_json.status_code == 200 and as_json.json()["orderId"] == order.order_id
    json_in_protobuf_out = api.get(f"/api/v1/orders/{order.order_id}/lineage", HTTP_ACCEPT=PROTOBUF)
    assert orders_pb2.LineageNode.FromString(json_in_protobuf_out.content).type == "OrderRequest"
    refused = api.post("/api/v1/orders", {}, format="json", HTTP_ACCEPT=PROTOBUF, HTTP_IDEMPOTENCY_KEY="rest-pb2")
    assert refused.status_code == 400 and refused["Content-Type"] == PROTOBUF
    status = describe(status_pb2.Status.FromString(refused.content))
    assert status["code"] == "INVALID_ARGUMENT" and status["metadata"]["correlationId"]
    assert {d["field"] for d in status["details"]} >= {"consumerId", "items"}


def test_a_protobuf_key_given_in_the_field_and_the_header_must_match(api, demo_data):
    body = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="pizza-roma", idempotency_key="field-key")
    body.items.add(menu_item_id="margherita", quantity=1)
    body.delivery_address.CopyFrom(orders_pb2.Address(street1="1 Main St", city="Oakland", state="CA", zip="94612"))
    raw = body.SerializeToString()
    rows = all_insert_only_counts()
    mismatch = api.post("/api/v1/orders", raw, content_type=PROTOBUF, HTTP_IDEMPOTENCY_KEY="other-key")
    assert mismatch.status_code == 400
    assert all_insert_only_counts() == rows
    by_field = api.post("/api/v1/orders", raw, content_type=PROTOBUF)
    assert by_field.status_code == 201
    by_header = api.post(
        "/api/v1/orders",
        order_body(items=[{"menuItemId": "margherita", "quantity": 1}]),
        format="json",
        HTTP_IDEMPOTENCY_KEY="field-key",
    )
    assert by_header.status_code == 200 and by_header.json()["requestId"] == "field-key"


def bad_requests(order_id: str, ticket: str, dispatch: str) -> list[tuple[str, str, object, str]]:
    """(method, path, body, content type) that must all be refused with a 4xx."""
    json_ = "application/json"
    return [
        ("post", "/api/v1/orders", "{broken", json_),
        ("post", "/api/v1/orders", json.dumps([1, 2]), json_),
        (
            "post",
            "/api/v1/orders",
            json.dumps(order_body(items=[{"menuItemId": "margherita", "quantity": "2"}])),
            json_,
        ),
        ("post", "/api/v1/orders", b"\xff\xff", PROTOBUF),
        ("get", "/api/v1/orders/not-a-uuid", None, json_),
        ("get", f"/api/v1/orders/{UNKNOWN}/lineage", None, json_),
        ("post", f"/api/v1/orders/{order_id}/cancel", json.dumps({"note": 5}), json_),
        ("post", f"/api/v1/orders/{order_id}/cancel", json.dumps({"reason": "x"}), json_),
        ("post", f"/api/v1/orders/{order_id}/cancel", b"\x0a\x05wrong", PROTOBUF),
        ("post", f"/api/v1/orders/{order_id}/cancel", "[]", json_),
        ("post", f"/api/v1/tickets/{ticket}/accept", json.dumps({"readyBy": "tomorrow"}), json_),
        ("post", f"/api/v1/tickets/{ticket}/reject", json.dumps({"reason": ""}), json_),
        ("post", f"/api/v1/tickets/{ticket}/reject", json.dumps({"reason": "x", "extra": 1}), json_),
        ("post", f"/api/v1/tickets/{UNKNOWN}/accept", "{}", json_),
        ("post", f"/api/v1/deliveries/{dispatch}/dropoff", None, json_),
        ("post", "/api/v1/deliveries/nope/pickup", None, json_),
        ("post", "/api/v1/consumers", json.dumps({"id": "a/b", "name": "x"}), json_),
        ("post", "/api/v1/consumers", json.dumps({"id": "alice", "name": "Alice again"}), json_),
        ("post", "/api/v1/restaurants", json.dumps({"id": "r", "name": "R", "address": "A", "menu": "x"}), json_),
        ("post", "/api/v1/couriers", json.dumps({"id": "c", "name": "C", "available": "perhaps"}), json_),
        ("put", "/api/v1/couriers/courier-ann/availability", json.dumps({}), json_),
        ("put", "/api/v1/couriers/courier-ann/availability", "{", json_),
    ]


def test_bad_input_on_every_route_stores_nothing_and_never_shows_a_traceback(api, demo_data, settings):
    for courier in ("courier-ann", "courier-ben"):
        api.put(f"/api/v1/couriers/{courier}/availability", {"available": False}, format="json")
    api.put("/api/v1/couriers/courier-max/availability", {"available": True}, format="json")
    order = place(api, "rest-bad", restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])
    accepted = api.post(f"/api/v1/tickets/{order['kitchenTicketId']}/accept", {}, format="json").json()
    rows, reference = all_insert_only_counts(), (Consumer.objects.count(), Restaurant.objects.count())
    couriers = list(Courier.objects.order_by("id").values_list("id", "available"))
    for method, path, body, content_type in bad_requests(
        order["orderId"], order["kitchenTicketId"], accepted["dispatchId"]
    ):
        kwargs = {"data": body, "content_type": content_type} if body is not None else {}
        response = getattr(api, method)(path, **kwargs)
        assert 400 <= response.status_code < 500, (method, path, body, response.content)
        assert b"Traceback" not in response.content and b'File "' not in response.content, path
        if response["Content-Type"] != PROTOBUF:
            error(response)
    assert all_insert_only_counts() == rows
    assert (Consumer.objects.count(), Restaurant.objects.count()) == reference
    assert list(Courier.objects.order_by("id").values_list("id", "available")) == couriers


def test_metrics_count_requests_per_route_transport_and_status(api, demo_data, client):
    api.get(f"/api/v1/orders/{UNKNOWN}")
    api.get(f"/api/v1/orders/{UNKNOWN}", HTTP_ACCEPT=PROTOBUF)
    text = client.get("/metrics").content.decode()
    route = 'route="GET /api/v1/orders/{order_id}"'
    assert f'tpfgo_requests_total{{{route},status="NOT_FOUND",transport="rest"}}' in text
    assert f'tpfgo_requests_total{{{route},status="NOT_FOUND",transport="protobuf"}}' in text
    assert f'tpfgo_request_seconds_count{{{route},transport="rest"}}' in text
    assert "# TYPE tpfgo_request_seconds histogram" in text


def test_an_invented_method_adds_no_route_series(api, demo_data, client):
    """A client may send any method token (gunicorn passes it on): the route label must not grow with it."""
    for method in ("FOO1", "BARBAZ", "X-HOBS"):
        assert client.generic(method, "/healthz").status_code == 405
        api.generic(method, f"/api/v1/orders/{UNKNOWN}")
    text = client.get("/metrics").content.decode()
    routes = {line.split('route="', 1)[1].split('"', 1)[0] for line in text.splitlines() if "route=" in line}
    assert not {r for r in routes if r.split(" ", 1)[0] in ("FOO1", "BARBAZ", "X-HOBS")}, routes
    assert 'tpfgo_requests_total{route="OTHER /healthz",status="INVALID_ARGUMENT",transport="rest"} 3.0' in text


def test_a_refused_method_content_type_or_accept_says_what_the_route_takes(api, demo_data):
    """DRF's sentences ('Method "DELETE" not allowed.') named neither the route's methods nor its formats."""
    from checkout import function

    rows = all_insert_only_counts()
    refusals = [
        (
            api.delete("/api/v1/consumers"),
            405,
            "DELETE is not allowed on this route; the Allow header lists the methods it takes",
        ),
        (
            api.post("/api/v1/consumers", "x", content_type="text/plain"),
            415,
            "a body of Content-Type text/plain is not accepted on this route: send application/json",
        ),
        (
            api.post("/api/v1/orders", "x", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k-415"),
            415,
            "a body of Content-Type text/plain is not accepted on this route: send application/json, "
            "application/x-protobuf",
        ),
        (
            api.get("/api/v1/consumers", HTTP_ACCEPT="text/csv"),
            406,
            "no answer format of this route matches the Accept header: it answers application/json",
        ),
    ]
    for response, status, message in refusals:
        assert response.status_code == status
        assert (response.json()["error"]["code"], response.json()["error"]["message"]) == ("INVALID_ARGUMENT", message)
    assert "GET" in refusals[0][0]["Allow"]
    event = {
        "httpMethod": "DELETE",
        "path": "/api/v1/consumers",
        "headers": {"Authorization": api._credentials["HTTP_AUTHORIZATION"]},
    }
    answer = function.handler(event, None)
    assert answer["statusCode"] == 405 and json.loads(answer["body"])["error"]["message"] == refusals[0][2]
    assert all_insert_only_counts() == rows


def test_accept_is_read_by_preference_and_a_client_taking_json_too_is_answered_in_json(api):
    """The first of JSON and protobuf listed in Accept decided, q ignored (q=0 refuses a type), and a JSON-only route
    refused a client that listed protobuf beside JSON with 501, as if it took protobuf only."""

    def answer(path: str, accept: str, method: str = "get") -> tuple[int, str]:
        body = {"body": "{}", "content_type": "application/json"} if method == "post" else {}
        response = getattr(api, method)(path, HTTP_ACCEPT=accept, **body)
        return response.status_code, response["Content-Type"]

    order, ticket = f"/api/v1/orders/{UNKNOWN}", f"/api/v1/tickets/{UNKNOWN}/accept"
    assert answer(order, f"{PROTOBUF};q=0, application/json") == (404, "application/json")
    assert answer(order, f"application/json;q=0.5, {PROTOBUF}") == (404, PROTOBUF)
    assert answer(order, f"application/json, {PROTOBUF}") == (404, "application/json")
    assert answer(ticket, f"application/json, {PROTOBUF}", "post") == (404, "application/json")
    assert answer(ticket, f"{PROTOBUF}, */*;q=0.1", "post")[0] == 404  # the route's own answer, not 501
    assert answer(ticket, PROTOBUF, "post") == (501, PROTOBUF)
    assert answer("/api/v1/error-sink/entries", f"application/json, {PROTOBUF}", "post")[0] == 400


@pytest.mark.parametrize(
    "accept", [f"{PROTOBUF}, */*", f"{PROTOBUF}, application/json;q=0.5", f"{PROTOBUF}, */*;q=0.1"]
)
def test_a_json_only_route_answers_its_errors_in_json_to_a_client_that_prefers_protobuf_but_takes_json(api, accept):
    """What the route produces: its answer would be JSON, so is its error. A protobuf Status went to a client that
    preferred protobuf by Accept's q and took ``*/*`` too, on a route that answers no protobuf."""
    rows = all_insert_only_counts()
    refused = api.post(f"/api/v1/tickets/{UNKNOWN}/accept", {}, format="json", HTTP_ACCEPT=accept)
    assert (refused.status_code, refused["Content-Type"]) == (404, "application/json")
    assert refused.json()["error"]["code"] == "NOT_FOUND"
    invalid = api.post("/api/v1/consumers", {"id": "x"}, format="json", HTTP_ACCEPT=accept)
    assert (invalid.status_code, invalid["Content-Type"]) == (400, "application/json")
    assert invalid.json()["error"]["code"] == "INVALID_ARGUMENT"
    # a route that answers protobuf keeps answering its errors in protobuf to that client
    order = api.get(f"/api/v1/orders/{UNKNOWN}", HTTP_ACCEPT=accept)
    assert (order.status_code, order["Content-Type"]) == (404, PROTOBUF)
    assert status_pb2.Status.FromString(order.content).code == 5  # NOT_FOUND
    # and a client that takes no JSON still gets a Status from a JSON-only route
    only = api.post(f"/api/v1/tickets/{UNKNOWN}/accept", {}, format="json", HTTP_ACCEPT=PROTOBUF)
    assert (only.status_code, only["Content-Type"]) == (501, PROTOBUF)
    assert all_insert_only_counts() == rows
