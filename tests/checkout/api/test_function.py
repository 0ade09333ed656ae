"""The FUNCTION transport: API-gateway proxy events through the same views as REST, and ``invoke_function``."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command

from checkout import demo
from checkout.function import handler
from checkout.protos import orders_pb2
from pipelines.models import SubscriberLease
from tests.checkout.api.transports import Function, Http
from tests.checkout.conftest import order_body, place
from tests.conftest import all_insert_only_counts

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


@pytest.fixture
def auth(token) -> dict[str, str]:
    demo.load()
    return {"Authorization": f"Token {token}"}


def event(method: str, path: str, body: object = None, **headers: str) -> dict:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return {"httpMethod": method, "path": path, "headers": headers, "body": text, "isBase64Encoded": False}


def test_an_order_is_placed_and_replayed_with_case_insensitive_headers(auth):
    headers = {"content-type": "application/json", "IDEMPOTENCY-KEY": "fn-1", "authorization": auth["Authorization"]}
    first = handler(event("POST", "/api/v1/orders", order_body(), **headers), None)
    again = handler(event("post", "/api/v1/orders", order_body(), **headers), None)
    assert (first["statusCode"], again["statusCode"]) == (201, 200)
    assert again["headers"]["Idempotent-Replayed"] == "true" and not first["isBase64Encoded"]
    assert json.loads(first["body"])["orderId"] == json.loads(again["body"])["orderId"]
    assert json.loads(first["body"])["state"] == "COMPLETED"


def test_a_protobuf_body_and_answer_travel_base64_encoded(auth):
    request = orders_pb2.CreateOrderRequest(consumer_id="alice", restaurant_id="pizza-roma", idempotency_key="fn-pb")
    request.items.add(menu_item_id="tiramisu", quantity=1)
    request.delivery_address.CopyFrom(orders_pb2.Address(street1="1 Main St", city="Oakland", state="CA", zip="94612"))
    answer = handler(
        {
            "httpMethod": "POST",
            "path": "/api/v1/orders",
            "headers": {**auth, "Content-Type": PROTOBUF},
            "body": base64.b64encode(request.SerializeToString()).decode(),
            "isBase64Encoded": True,
        },
        None,
    )
    assert answer["statusCode"] == 201 and answer["isBase64Encoded"]
    order = orders_pb2.Order.FromString(base64.b64decode(answer["body"]))
    assert (order.request_id, order.state) == ("fn-pb", "COMPLETED")


@pytest.mark.parametrize(
    ("path", "method", "status", "code"),
    [
        ("/api/v1/orders/ingest", "POST", 501, "UNIMPLEMENTED"),
        ("/api/v1/subscriptions/stream", "POST", 501, "UNIMPLEMENTED"),
        ("/api/v1/no-such-route", "GET", 404, "NOT_FOUND"),
        ("/ops/", "GET", 404, "NOT_FOUND"),
        ("/api/v1/orders", "GET", 405, "INVALID_ARGUMENT"),
    ],
)
def test_unsupported_shapes_and_unknown_paths_are_refused_in_the_envelope(auth, path, method, status, code):
    answer = handler(event(method, path, "{}", **auth, **{"Content-Type": "application/x-ndjson"}), None)
    body = json.loads(answer["body"])
    assert (answer["statusCode"], body["error"]["code"]) == (status, code)
    assert body["error"]["correlationId"]
    if code == "UNIMPLEMENTED":
        assert "FUNCTION" in body["error"]["message"] and "NDJSON" in body["error"]["message"]


def test_a_subscription_stream_is_refused_before_it_follows_anything(auth):
    body = {"publication": "tpfgo.order.terminal-state.v1", "subscriber": "fn-follower"}
    rows = all_insert_only_counts()

    answer = handler(event("POST", "/api/v1/subscriptions/stream", body, **auth, **{"Content-Type": JSON}), None)

    error = json.loads(answer["body"])["error"]
    assert (answer["statusCode"], error["code"]) == (501, "UNIMPLEMENTED")
    assert "SubscriptionService/Subscribe" in error["message"]
    assert all_insert_only_counts() == rows
    assert SubscriberLease.objects.count() == 0


def test_the_token_is_checked_first_even_on_the_refused_streaming_route(db):
    for path in ("/api/v1/orders/ingest", "/api/v1/subscriptions/stream", "/api/v1/orders"):
        answer = handler(event("POST", path, "{broken"), None)
        assert answer["statusCode"] == 401, path
        assert json.loads(answer["body"])["error"]["code"] == "UNAUTHENTICATED"


def test_a_body_flagged_base64_that_is_not_is_invalid_and_stores_nothing(auth):
    rows = all_insert_only_counts()
    bad = {**event("POST", "/api/v1/orders", "%%%", **auth), "isBase64Encoded": True}
    answer = handler(bad, None)
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["error"]["code"] == "INVALID_ARGUMENT"
    assert all_insert_only_counts() == rows


def test_the_schema_route_is_open_and_text(db):
    answer = handler({"httpMethod": "GET", "path": "/api/v1/schema", "headers": None}, None)
    assert answer["statusCode"] == 200 and "openapi" in answer["body"] and not answer["isBase64Encoded"]


def test_invoke_function_runs_an_event_file(auth, tmp_path, capsys):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("GET", "/api/v1/consumers", None, **auth)))
    call_command("invoke_function", "--event", str(path))
    answer = json.loads(capsys.readouterr().out)
    assert answer["statusCode"] == 200
    assert {"id": "alice", "name": "Alice Adams", "active": True} in json.loads(answer["body"])["results"]


def error_of(answer: dict) -> tuple[int, str, list[str]]:
    error = json.loads(answer["body"])["error"]
    return answer["statusCode"], error["code"], [d["field"] for d in error["details"]]


@pytest.mark.parametrize(
    ("bad", "fields"),
    [
        ([], ["event"]),
        (None, ["event"]),
        ("hello", ["event"]),
        ({"httpMethod": "GET", "path": "/api/v1/orders/x", "headers": ["a"]}, ["headers"]),
        ({"httpMethod": "GET", "path": "/api/v1/orders/x", "queryStringParameters": ["a"]}, ["queryStringParameters"]),
        ({"httpMethod": "GET", "path": "/api/v1/orders/x", "requestContext": "id"}, ["requestContext"]),
        ({"httpMethod": "POST", "path": "/api/v1/orders", "body": {"consumerId": "alice"}}, ["body"]),
        ({"httpMethod": "POST", "path": "/api/v1/orders", "body": 10**9}, ["body"]),
        (
            {"httpMethod": "POST", "path": "/api/v1/orders", "body": "e30=", "isBase64Encoded": "false"},
            ["isBase64Encoded"],
        ),
        ({"httpMethod": 1, "path": 2}, ["httpMethod", "path"]),
        ({"httpMethod": "POST", "path": "/api/v1/orders", "body": '{"a": "\ud800"}'}, ["body"]),
        ({"httpMethod": "GET", "path": "/api/v1/orders/\ud800"}, ["path"]),
    ],
)
def test_a_malformed_event_is_answered_invalid_argument_not_raised(db, bad, fields):
    rows = all_insert_only_counts()
    assert error_of(handler(bad, None)) == (400, "INVALID_ARGUMENT", fields)
    assert all_insert_only_counts() == rows


def test_a_path_and_a_header_beyond_latin_1_are_read_as_a_server_reads_them(auth):
    unknown = handler(event("GET", "/api/v1/orders/€", **auth), None)
    assert error_of(unknown) == (404, "NOT_FOUND", [])
    wrong_token = handler(event("GET", "/api/v1/orders/x", Authorization="Token €"), None)
    assert error_of(wrong_token)[:2] == (401, "UNAUTHENTICATED")


def test_an_invented_http_method_adds_no_route_series(auth, client):
    """The event's ``httpMethod`` is any text: the route label must not grow with it."""
    for n in range(3):
        handler(event(f"made-up-{n}", "/api/v1/orders", "{}", **auth), None)
    text = client.get("/metrics").content.decode()
    assert "MADE-UP" not in text
    assert 'route="OTHER /api/v1/orders"' in text


def test_a_percent_encoded_path_is_answered_as_the_http_server_answers_it(live_server, auth, token):
    """Decoded as a WSGI server decodes it; a malformed escape (``%ZZ``, a cut UTF-8 sequence) stays as sent."""
    order_id = place().view["orderId"]
    rest, function = Http(live_server.url, token), Function(token)
    paths = {
        f"/api/v1/orders/{order_id.replace('-', '%2D')}": "OK",
        f"/api/v1/%6Frders/{order_id}/lineage": "OK",
        "/api/v1/%63onsumers": "OK",
        "/api/v1/orders/%ZZ": "order %ZZ not found",
        "/api/v1/orders/%E2%82": "order %E2%82 not found",
        "/api/v1/orders/%E2%82%AC": "order € not found",
        "/api/v1/orders/a%2Fb": "no route /api/v1/orders/a/b",
    }
    for path, said in paths.items():
        over_http, through_function = rest.send("GET", path), function.send("GET", path)
        assert (through_function.code, through_function.http) == (over_http.code, over_http.http), path
        if said == "OK":
            assert over_http.code == "OK", path
            assert through_function.data == over_http.data, path
        else:
            assert over_http.code == "NOT_FOUND", path
            assert through_function.data["message"] == over_http.data["message"] == said, path
