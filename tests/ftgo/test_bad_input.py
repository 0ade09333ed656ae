"""Bad input on every FTGO route: a 400 in TPFGo's envelope naming FTGO's fields, and nothing stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from checkout.models import Consumer, Courier, MenuItem, Restaurant
from ftgo.models import FtgoAlias
from tests.conftest import all_insert_only_counts
from tests.ftgo.conftest import consumer_body, created, order_body, restaurant_body


def stored() -> dict[str, int]:
    mutable = {m._meta.label: m.objects.count() for m in (Consumer, Restaurant, MenuItem, Courier)}
    return {**all_insert_only_counts(), **mutable}


def refused(response: Any) -> list[str]:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["correlationId"]
    return sorted(d["field"] for d in error["details"])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["name"]),
        ({"name": "John Doe"}, ["name"]),
        ({"name": {"firstName": "John"}}, ["name.lastName"]),
        ({"name": {"firstName": "J" * 100, "lastName": "Doe"}}, ["name.firstName"]),
        ({"name": {"firstName": "J" * 100, "lastName": "D" * 100}}, ["name.firstName", "name.lastName"]),
    ],
)
def test_a_bad_consumer_is_refused(ftgo: APIClient, body: dict[str, Any], fields: list[str]) -> None:
    before = stored()
    assert refused(ftgo.post("/ftgo/consumers", body, format="json")) == fields
    assert stored() == before


def test_the_longest_address_the_schema_allows_is_kept_whole(ftgo: APIClient) -> None:
    """A restaurant's address is one text of at most 300 characters: parts of the schema's longest fit it."""
    parts = {"street1": "a" * 100, "street2": "b" * 100, "city": "c" * 60, "state": "d" * 20, "zip": "e" * 12}
    number = created(ftgo.post("/ftgo/restaurants", _address(**parts), format="json"), "id")
    restaurant = Restaurant.objects.get(pk=FtgoAlias.objects.get(number=number).tpfgo_id)
    assert restaurant.address == f"{'a' * 100}, {'b' * 100}, {'c' * 60}, {'d' * 20} {'e' * 12}"


def test_the_longest_names_the_schema_allows_are_kept_whole(ftgo: APIClient) -> None:
    """Two names of the schema's longest and the space between fit TPFGo's one name (200 characters)."""
    name = {"firstName": "J" * 99, "lastName": "D" * 99}
    number = ftgo.post("/ftgo/consumers", {"name": name}, format="json").json()["consumerId"]
    assert ftgo.get(f"/ftgo/consumers/{number}").json() == {"consumerId": number, "name": name}


def _menu(*items: dict[str, Any]) -> dict[str, Any]:
    return {**restaurant_body(), "menu": {"menuItems": list(items)}}


def _address(**parts: str) -> dict[str, Any]:
    body = restaurant_body()
    return {**body, "address": {**body["address"], **parts}}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (restaurant_body(price="twelve"), ["menu.menuItems[0].price"]),  # TPFGo's money rule
        (restaurant_body(price="-1.00"), ["menu.menuItems[0].price"]),
        (_menu({"id": "a b", "name": "Soup", "price": "1.00"}), ["menu.menuItems[0].id"]),  # TPFGo's id rule
        (
            _menu({"id": "1", "name": "Soup", "price": "1.00"}, {"id": "1", "name": "Tea", "price": "2.00"}),
            ["menu.menuItems"],
        ),
        ({**restaurant_body(), "address": "1 Main Street"}, ["address"]),
        (_address(street1="a" * 101, city="b" * 61), ["address.city", "address.street1"]),
        ({"name": "No menu", "address": restaurant_body()["address"]}, ["menu"]),
    ],
)
def test_a_bad_restaurant_is_refused(ftgo: APIClient, body: dict[str, Any], fields: list[str]) -> None:
    before = stored()
    assert refused(ftgo.post("/ftgo/restaurants", body, format="json")) == fields
    assert stored() == before


@pytest.fixture
def known(ftgo: APIClient) -> dict[str, int]:
    consumer = ftgo.post("/ftgo/consumers", consumer_body(), format="json").json()["consumerId"]
    restaurant = ftgo.post("/ftgo/restaurants", restaurant_body(), format="json").json()["id"]
    return {"consumer": consumer, "restaurant": restaurant}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"consumerId": 999999}, ["consumerId"]),  # unknown
        ({"consumerId": "one"}, ["consumerId"]),  # not a number (digits as text pass, as Jackson reads them)
        ({"restaurantId": "restaurant"}, ["restaurantId"]),  # the other kind's number is checked below
        ({"lineItems": []}, ["lineItems"]),
        ({"lineItems": [{"menuItemId": "1", "quantity": 0}]}, ["lineItems[0].quantity"]),
        ({"lineItems": [{"menuItemId": "nope", "quantity": 1}]}, ["lineItems[0].menuItemId"]),
        ({"deliveryTime": "soon"}, ["deliveryTime"]),
        ({"deliveryTime": [10**30, 1, 1, 0, 0]}, ["deliveryTime"]),  # beyond a C long: no 500
        ({"deliveryTime": "9999-12-31T23:59:59-14:00"}, ["deliveryTime"]),  # after year 9999 in UTC
        ({"deliveryTime": "2030-01-01T12:00:00\x00"}, ["deliveryTime"]),  # Python's fromisoformat reads it
        ({"deliveryTime": "2030-01-01"}, ["deliveryTime"]),  # a date alone: fromisoformat read it as midnight
        ({"deliveryTime": "20300101T120000"}, ["deliveryTime"]),  # the basic form, which Jackson refuses
        ({"deliveryTime": "2030-W01-2T12:00"}, ["deliveryTime"]),  # a week date, likewise
        (
            {"deliveryAddress": {"street1": "9 Amazing View"}},
            ["deliveryAddress.city", "deliveryAddress.state", "deliveryAddress.zip"],
        ),
        ({"tip": "5.00"}, ["tip"]),
    ],
)
def test_a_bad_order_is_refused(
    ftgo: APIClient, known: dict[str, int], change: dict[str, Any], fields: list[str]
) -> None:
    before = stored()
    body = {**order_body(known["consumer"], known["restaurant"]), **change}
    assert refused(ftgo.post("/ftgo/orders", body, format="json")) == fields
    assert stored() == before


def test_an_order_naming_a_restaurant_by_a_consumers_number_is_refused(ftgo: APIClient, known: dict[str, int]) -> None:
    before = stored()
    body = order_body(known["consumer"], known["consumer"])
    assert refused(ftgo.post("/ftgo/orders", body, format="json")) == ["restaurantId"]
    assert stored() == before


@pytest.mark.parametrize(
    ("route", "body", "fields"),
    [
        ("cancel", {"reason": "changed my mind"}, ["reason"]),
        ("revise", {"lineItems": []}, ["lineItems"]),
        ("revise", [], ["body"]),
    ],
)
def test_bad_order_commands_are_refused(
    ftgo: APIClient, placed: dict[str, int], route: str, body: Any, fields: list[str]
) -> None:
    before = stored()
    assert refused(ftgo.post(f"/ftgo/orders/{placed['order']}/{route}", body, format="json")) == fields
    assert stored() == before


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"readyBy": "at nine"}, ["readyBy"]),
        ({"readyBy": [2026, 12]}, ["readyBy"]),
        ({"ready": True}, ["ready"]),
        ({"readyBy": [2030, 1, 1, 0, 0, 0, 10**30]}, ["readyBy"]),
        ({"readyBy": "0001-01-01T00:00:00+14:00"}, ["readyBy"]),  # before year 1 in UTC
        ({"readyBy": "2030-01-01T12:00:00\n"}, ["readyBy"]),
    ],
)
def test_a_bad_ticket_acceptance_is_refused(
    ftgo: APIClient, placed: dict[str, int], body: dict[str, Any], fields: list[str]
) -> None:
    before = stored()
    assert refused(ftgo.post(f"/ftgo/tickets/{placed['order']}/accept", body, format="json")) == fields
    assert stored() == before


@pytest.mark.parametrize(("body", "fields"), [({}, ["available"]), ({"available": "maybe"}, ["available"])])
def test_a_bad_courier_availability_is_refused(ftgo: APIClient, body: dict[str, Any], fields: list[str]) -> None:
    before = stored()
    assert refused(ftgo.post("/ftgo/couriers/5/availability", body, format="json")) == fields
    assert stored() == before
    assert not FtgoAlias.objects.exists()


@pytest.mark.parametrize("query", ["", "?consumerId=", "?consumerId=x"])
def test_the_history_needs_a_consumer_number(ftgo: APIClient, query: str) -> None:
    assert refused(ftgo.get(f"/ftgo/orders{query}")) == ["consumerId"]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ({"firstName": "Jo\x07hn", "lastName": "Doe"}, ["name.firstName"]),
        ({"firstName": "John", "lastName": "Do\x00e"}, ["name.lastName"]),
        ({"firstName": "\x1bJohn", "lastName": "Doe\u0085"}, ["name.firstName", "name.lastName"]),
        ({"firstName": "John", "lastName": "Doe\ud800"}, ["name.lastName"]),  # an unpaired surrogate
    ],
)
def test_a_consumer_name_with_a_control_character_is_refused_naming_the_clients_field(
    ftgo: APIClient, name: dict[str, str], fields: list[str]
) -> None:
    before = stored()
    body = json.dumps({"name": name})  # \ud800 escaped, as a client sends it
    response = ftgo.post("/ftgo/consumers", body, content_type="application/json")
    assert refused(response) == fields
    assert all(d["issue"].startswith("must not contain") for d in response.json()["error"]["details"])
    assert stored() == before


def test_a_consumer_name_jackson_reads_as_text_is_kept(ftgo: APIClient) -> None:
    number = created(
        ftgo.post("/ftgo/consumers", {"name": {"firstName": 7, "lastName": True}}, format="json"), "consumerId"
    )
    assert ftgo.get(f"/ftgo/consumers/{number}").json()["name"] == {"firstName": "7", "lastName": "true"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('{"name": {"firstName": "John", "middleName": "Q", "lastName": "Doe"}}', ["name.middleName"]),
        ('{"name": {"firstName": "John", "lastName": "Doe"}, "name": {"firstName": "Jo", "lastName": "D"}}', ["body"]),
    ],
)
def test_a_field_ftgos_jackson_would_ignore_or_overwrite_is_refused(
    ftgo: APIClient, body: str, fields: list[str]
) -> None:
    """FTGO's mapper ignores an unknown field and keeps the last of a repeated key: here neither is silently lost."""
    before = stored()
    assert refused(ftgo.post("/ftgo/consumers", body, content_type="application/json")) == fields
    assert stored() == before
