"""One rule for every write route: a body has the documented fields only, each of its documented JSON type.

What the OpenAPI schema allows the server takes, and what it refuses the server refuses (schemathesis checks the
whole schema in test_schema.py; these are the disagreements it once found, one by one).
"""

from __future__ import annotations

import pytest

from checkout.models import Consumer, Courier, MenuItem, Restaurant
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts


def refused(response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "INVALID_ARGUMENT"
    return [(d["field"], d["issue"]) for d in body["details"]]


@pytest.mark.parametrize("value", [0, 1, "yes", "true", "false", None, [], {}])
def test_availability_is_a_json_boolean_only(api, demo_data, value):
    before = Courier.objects.get(pk="courier-ann").available
    response = api.put("/api/v1/couriers/courier-ann/availability", {"available": value}, format="json")
    assert [field for field, _ in refused(response)] == ["available"]
    assert Courier.objects.get(pk="courier-ann").available is before


@pytest.mark.parametrize("available", [True, False])
def test_availability_takes_true_and_false(api, demo_data, available):
    response = api.put("/api/v1/couriers/courier-ann/availability", {"available": available}, format="json")
    assert response.status_code == 200 and response.json()["available"] is available
    assert Courier.objects.get(pk="courier-ann").available is available


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/v1/consumers", {"id": "erin", "name": "Erin", "paymentToken": 1234}, "paymentToken"),
        ("/api/v1/consumers", {"id": 42, "name": "Erin"}, "id"),
        ("/api/v1/consumers", {"id": "erin", "name": 7}, "name"),
        ("/api/v1/consumers", {"id": "erin", "name": "Erin", "active": "yes"}, "active"),
        ("/api/v1/couriers", {"id": "zed", "name": "Zed", "available": 1}, "available"),
        (
            "/api/v1/restaurants",
            {"id": "deli", "name": "Deli", "address": "3 Side St", "orderMinimum": 5},
            "orderMinimum",
        ),
        (
            "/api/v1/restaurants",
            {"id": "deli", "name": "Deli", "address": "3 Side St", "orderMinimum": " 5"},
            "orderMinimum",
        ),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_coerced(api, demo_data, route, body, field):
    counts = (Consumer.objects.count(), Courier.objects.count(), Restaurant.objects.count())
    assert [name for name, _ in refused(api.post(route, body, format="json"))] == [field]
    assert (Consumer.objects.count(), Courier.objects.count(), Restaurant.objects.count()) == counts


@pytest.mark.parametrize(
    ("method", "route", "body", "unknown"),
    [
        ("post", "/api/v1/consumers", {"id": "erin", "name": "Erin", "nickname": "E"}, "nickname"),
        ("post", "/api/v1/couriers", {"id": "zed", "name": "Zed", "vehicle": "bike"}, "vehicle"),
        (
            "post",
            "/api/v1/restaurants",
            {
                "id": "deli",
                "name": "Deli",
                "address": "3 Side St",
                "menu": [{"id": "a", "name": "A", "price": "1.00", "x": 1}],
            },
            "menu[0].x",
        ),
        ("put", "/api/v1/couriers/courier-ann/availability", {"available": True, "until": "noon"}, "until"),
    ],
)
def test_an_unknown_field_is_refused_on_every_reference_route(api, demo_data, method, route, body, unknown):
    counts = (Consumer.objects.count(), Courier.objects.count(), Restaurant.objects.count(), MenuItem.objects.count())
    response = getattr(api, method)(route, body, format="json")
    assert refused(response) == [(unknown, "unknown field")]
    assert (
        Consumer.objects.count(),
        Courier.objects.count(),
        Restaurant.objects.count(),
        MenuItem.objects.count(),
    ) == counts
    assert Courier.objects.get(pk="courier-ann").available is True


def test_an_order_delivery_time_before_year_1000_is_stored_in_its_canonical_form(api, demo_data):
    body = order_body(deliveryTime="0572-11-28T08:29:47-23:59")
    response = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="early-time")
    assert response.status_code == 201, response.content
    again = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="early-time")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("when", ["2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_impossible_delivery_time_is_invalid_argument(api, demo_data, when):
    rows = all_insert_only_counts()
    response = api.post("/api/v1/orders", order_body(deliveryTime=when), format="json", HTTP_IDEMPOTENCY_KEY="bad-time")
    assert refused(response) == [("deliveryTime", "must be an ISO-8601 time with a zone")]
    assert all_insert_only_counts() == rows


def test_every_request_body_in_the_schema_refuses_additional_properties(client):
    schema = client.get("/api/v1/schema?format=json").json()
    components = schema["components"]["schemas"]
    bodies = set()
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                bodies.add(ref.rsplit("/", 1)[1])
    assert bodies >= {"CreateOrder", "Consumer", "Restaurant", "Courier", "Availability", "ErrorSinkEntry"}
    assert {name: components[name].get("additionalProperties") for name in bodies} == dict.fromkeys(bodies, False)
    assert components["Consumer"]["properties"]["name"]["pattern"] == "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    create = schema["paths"]["/api/v1/orders"]["post"]
    assert create["requestBody"]["required"] is True


WRITE_ROUTES = [
    ("post", "/api/v1/orders", {"HTTP_IDEMPOTENCY_KEY": "not-an-object"}),
    ("post", "/api/v1/search", {"HTTP_IDEMPOTENCY_KEY": "not-an-object"}),
    ("post", "/api/v1/consumers", {}),
    ("post", "/api/v1/couriers", {}),
    ("post", "/api/v1/restaurants", {}),
    ("put", "/api/v1/couriers/courier-ann/availability", {}),
    ("post", "/api/v1/error-sink/entries", {}),
    ("post", "/api/v1/subscriptions/ack", {}),
]


@pytest.mark.parametrize("body", ["[]", '"alice"', "5", "null"])
def test_a_body_that_is_no_json_object_gets_one_detail_on_every_write_route(api, demo_data, body):
    counts = all_insert_only_counts()
    rows = (Consumer.objects.count(), Courier.objects.count(), Restaurant.objects.count())
    for method, route, headers in WRITE_ROUTES:
        response = getattr(api, method)(route, body, content_type="application/json", **headers)
        assert refused(response) == [("body", "not an object")], route
    assert all_insert_only_counts() == counts
    assert (Consumer.objects.count(), Courier.objects.count(), Restaurant.objects.count()) == rows
    assert Courier.objects.get(pk="courier-ann").available is True


def test_a_nested_object_that_is_no_json_object_is_named_by_its_place(api, demo_data):
    body = {
        "id": "deli",
        "name": "Deli",
        "address": "3 Side St",
        "menu": [{"id": "a", "name": "A", "price": "1.00"}, 7],
    }
    response = api.post("/api/v1/restaurants", body, format="json")
    assert refused(response) == [("menu[1]", "not an object")]
    assert not Restaurant.objects.filter(pk="deli").exists()


@pytest.mark.parametrize(
    ("method", "route", "body", "issues"),
    [
        (
            "post",
            "/api/v1/consumers",
            {"id": 5, "name": True, "active": "yes", "paymentToken": 3},
            [
                ("id", "must be a string matching ^[A-Za-z0-9._:-]{1,64}$"),
                ("name", "must be a string of at most 200 characters"),
                ("active", "must be true or false"),
                ("paymentToken", "must be a string of at most 64 characters"),
            ],
        ),
        ("post", "/api/v1/consumers", {"id": "", "name": ""}, [("id", "is required"), ("name", "is required")]),
        (
            "post",
            "/api/v1/couriers",
            {"id": "c-9", "name": None, "available": None, "completionMode": "x"},
            [
                ("name", "is required"),
                ("available", "must be true or false"),
                ("completionMode", "must be one of auto, manual"),
            ],
        ),
        (
            "post",
            "/api/v1/restaurants",
            {"id": "r-9", "name": "R", "address": "a", "orderMinimum": 1.5, "menu": "x"},
            [("orderMinimum", "must be a string of digits with up to two decimals"), ("menu", "must be a list")],
        ),
        ("put", "/api/v1/couriers/courier-ann/availability", {}, [("available", "is required")]),
    ],
)
def test_reference_routes_word_their_issues_like_the_order_route(api, demo_data, method, route, body, issues):
    """They answered DRF's sentences ('Not a valid string.', 'This field may not be blank.')."""
    rows = all_insert_only_counts()
    counts = [model.objects.count() for model in (Consumer, Courier, Restaurant, MenuItem)]
    assert refused(getattr(api, method)(route, body, format="json")) == issues
    assert [model.objects.count() for model in (Consumer, Courier, Restaurant, MenuItem)] == counts
    assert all_insert_only_counts() == rows


def test_a_ticket_decision_words_its_issues_like_the_order_route(api, demo_data):
    ticket = "/api/v1/tickets/00000000-0000-0000-0000-000000000000"
    assert refused(api.post(f"{ticket}/accept", {"readyBy": 5}, format="json")) == [
        ("readyBy", "must be an ISO-8601 time with a zone")
    ]
    assert refused(api.post(f"{ticket}/reject", {"reason": 5}, format="json")) == [
        ("reason", "must be a string of at most 300 characters")
    ]
    order = "/api/v1/orders/00000000-0000-0000-0000-000000000000"
    assert refused(api.post(f"{order}/cancel", {"note": 5}, format="json")) == [
        ("note", "must be a string of at most 500 characters")
    ]
