"""``OPTIONS`` describes a route to any principal with a token (docs/api.md): its ``Allow`` header and DRF's metadata,
which say no more than the open schema, not a 403 for lacking ``admin``; without a token it is 401."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import demo, services
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

JSON = ["application/json"]
PROTOBUF = ["application/json", "application/x-protobuf"]


def schema_description(path: str, method: str) -> str:
    return APIClient().get("/api/v1/schema?format=json").json()["paths"][path][method]["description"]


@pytest.mark.parametrize(
    ("kind", "path", "schema_path", "allowed", "name", "media"),
    [
        ("subscriber", "/api/v1/orders", "/api/v1/orders", "POST, OPTIONS", "Orders", PROTOBUF),
        ("search-client", "/api/v1/consumers", "/api/v1/consumers", "GET, POST, HEAD, OPTIONS", "Consumers", JSON),
        ("subscriber", "/ftgo/orders", "/ftgo/orders", "GET, POST, HEAD, OPTIONS", "Orders", JSON),
        ("error-sink", "/ftgo/orders/7/cancel/", "/ftgo/orders/{order_id}/cancel", "POST, OPTIONS", "Cancel", JSON),
    ],
)
def test_options_answers_any_principal_the_allow_header_and_what_the_schema_says_of_the_route(
    kind: str, path: str, schema_path: str, allowed: str, name: str, media: list[str]
) -> None:
    client = APIClient()
    before = all_insert_only_counts()
    anonymous = client.options(path)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind=kind, name=f'options-{kind}').key}")
    answer = client.options(path)
    description = schema_description(schema_path, allowed.split(", ")[0].lower())
    assert (answer.status_code, answer["Allow"], answer.json()) == (
        200,
        allowed,
        {"name": name, "description": description, "renders": media, "parses": media},
    )
    assert all_insert_only_counts() == before


def test_options_tells_a_bound_principal_nothing_of_whether_someone_elses_order_exists() -> None:
    demo.load()
    bobs = services.place_order(order_body(consumer="bob"), "options-bobs-order").view["orderId"]
    client = APIClient()
    alice = create_token(kind="ordering-client", binding="alice", name="options-alice").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {alice}")
    assert client.get(f"/api/v1/orders/{bobs}").status_code == 404  # as an id that names nothing
    before = all_insert_only_counts()
    answers = [
        client.options(f"/api/v1/orders/{order}{route}")
        for order in (bobs, "no-such-order")
        for route in ("", "/cancel")
    ]
    assert [(answer.status_code, answer["Allow"], answer.json()["name"]) for answer in answers] == [
        (200, "GET, HEAD, OPTIONS", "Order"),
        (200, "POST, OPTIONS", "Cancel"),
        (200, "GET, HEAD, OPTIONS", "Order"),
        (200, "POST, OPTIONS", "Cancel"),
    ]
    assert answers[0].content == answers[2].content and answers[1].content == answers[3].content
    assert all_insert_only_counts() == before
