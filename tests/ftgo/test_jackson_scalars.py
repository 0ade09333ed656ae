"""An order's and a revision's scalars, read as FTGO's services read them through Jackson (ftgo/jackson.py): what
Jackson coerces is accepted and stored as the value Jackson makes of it; what it refuses, and the forms this surface
refuses beyond it, are a 400 naming the client's field that stores nothing. TPFGo's own API stays strict."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout.models import Courier, Restaurant
from checkout.order_request.models import OrderRequest
from ftgo import jackson
from ftgo.models import FtgoAlias
from tests.conftest import all_insert_only_counts
from tests.ftgo.conftest import VINDALOO, consumer_body, created, order_body, restaurant_body


@pytest.fixture
def known(ftgo: APIClient) -> dict[str, int]:
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    menu = restaurant_body()
    menu["menu"]["menuItems"].append({"id": "2", "name": "Naan", "price": "3.00"})
    restaurant = created(ftgo.post("/ftgo/restaurants", menu, format="json"), "id")
    return {"consumer": consumer, "restaurant": restaurant}


def lines(response: Any) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.content
    return [(line["menuItemId"], line["quantity"]) for line in response.json()["lineItems"]]


def place(ftgo: APIClient, known: dict[str, int], **change: Any) -> Any:
    return ftgo.post("/ftgo/orders", {**order_body(known["consumer"], known["restaurant"]), **change}, format="json")


@pytest.mark.parametrize(
    ("quantity", "read"),
    [
        ("5", 5),  # text holding a whole number
        (" 5\t", 5),  # Java's trim
        ("+5", 5),
        ("05", 5),
        (5.0, 5),  # ACCEPT_FLOAT_AS_INT
        (5.9, 5),  # truncated toward zero
        (2e1, 20),
        (99.9, 99),
    ],
)
def test_an_order_takes_a_quantity_jackson_coerces_into_an_int(
    ftgo: APIClient, known: dict[str, int], quantity: object, read: int
) -> None:
    before = OrderRequest.objects.count()
    line = {"menuItemId": VINDALOO, "quantity": quantity}
    number = created(place(ftgo, known, lineItems=[line]), "orderId")
    assert OrderRequest.objects.count() == before + 1
    assert lines(ftgo.get(f"/ftgo/orders/{number}")) == [(VINDALOO, read)]


def test_an_order_takes_ids_jackson_coerces_and_a_numeric_zip(ftgo: APIClient, known: dict[str, int]) -> None:
    body = order_body(known["consumer"], known["restaurant"])
    body |= {
        "consumerId": f" {known['consumer']}",  # text into FTGO's long, trimmed
        "restaurantId": float(known["restaurant"]),  # a number with a fraction part of 0
        "lineItems": [{"menuItemId": 2, "quantity": 3}],  # a number into FTGO's String menuItemId
        "deliveryAddress": {**body["deliveryAddress"], "zip": 94612},
    }
    number = created(ftgo.post("/ftgo/orders", body, format="json"), "orderId")
    order = ftgo.get(f"/ftgo/orders/{number}")
    assert lines(order) == [("2", 3)]
    assert (order.json()["consumerId"], order.json()["restaurantId"]) == (known["consumer"], known["restaurant"])


def test_an_order_truncates_an_id_with_a_fraction_as_jackson_reads_it_into_a_long(
    ftgo: APIClient, known: dict[str, int]
) -> None:
    """FTGO's order service holds ``consumerId`` and ``restaurantId`` in a ``long``: Jackson 2.9's default
    ``ACCEPT_FLOAT_AS_INT`` truncates ``N.9`` to ``N`` (docs/ftgo.md, "Scalars")."""
    refused = place(ftgo, known, restaurantId=f"{known['restaurant']}e0")  # text: Long.parseLong refuses an exponent
    placed = place(ftgo, known, consumerId=known["consumer"] + 0.9, restaurantId=known["restaurant"] + 0.9)
    number = created(placed, "orderId")

    order = ftgo.get(f"/ftgo/orders/{number}").json()
    assert (order["consumerId"], order["restaurantId"]) == (known["consumer"], known["restaurant"])
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["restaurantId"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"menuItemId": VINDALOO, "quantity": True}, "lineItems[0].quantity"),  # Jackson refuses a boolean
        ({"menuItemId": VINDALOO, "quantity": "5.0"}, "lineItems[0].quantity"),  # Integer.parseInt refuses it
        ({"menuItemId": VINDALOO, "quantity": "five"}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": "0x5"}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": "1_0"}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": 1e10}, "lineItems[0].quantity"),  # beyond an int
        ({"menuItemId": VINDALOO, "quantity": "99999999999"}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": [5]}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": 0.5}, "lineItems[0].quantity"),  # Jackson's 0: not 1 to 99
        ({"menuItemId": VINDALOO, "quantity": "100"}, "lineItems[0].quantity"),
        # Jackson reads these as 0; refused here (docs/ftgo.md)
        ({"menuItemId": VINDALOO, "quantity": None}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": ""}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO, "quantity": "null"}, "lineItems[0].quantity"),
        ({"menuItemId": VINDALOO}, "lineItems[0].quantity"),
        ({"menuItemId": 1.0, "quantity": 5}, "lineItems[0].menuItemId"),  # a fraction's text: refused here
        ({"menuItemId": True, "quantity": 5}, "lineItems[0].menuItemId"),  # "true": no such menu item
        ({"menuItemId": {"id": "1"}, "quantity": 5}, "lineItems[0].menuItemId"),
        ({"menuItemId": None, "quantity": 5}, "lineItems[0].menuItemId"),
    ],
)
def test_an_order_refuses_a_line_jackson_or_this_surface_refuses_and_stores_nothing(
    ftgo: APIClient, known: dict[str, int], line: dict[str, Any], field: str
) -> None:
    before = all_insert_only_counts()
    response = place(ftgo, known, lineItems=[line])
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert [d["field"] for d in error["details"]] == [field]
    assert all_insert_only_counts() == before


@pytest.mark.parametrize("consumer", [True, "1.5", "", None, [1]])
def test_an_order_refuses_a_consumer_id_jackson_cannot_read_as_a_long(
    ftgo: APIClient, known: dict[str, int], consumer: object
) -> None:
    before = all_insert_only_counts()
    response = place(ftgo, known, consumerId=consumer)
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["error"]["details"]] == ["consumerId"]
    assert all_insert_only_counts() == before


def test_a_revision_takes_the_quantities_jackson_coerces(ftgo: APIClient, known: dict[str, int]) -> None:
    both = [{"menuItemId": "1", "quantity": 5}, {"menuItemId": "2", "quantity": 2}]
    order = created(place(ftgo, known, lineItems=both), "orderId")
    revision = {"revisedOrderLineItems": [{"menuItemId": 1, "quantity": "6"}, {"menuItemId": "2", "quantity": "0"}]}
    assert lines(ftgo.post(f"/ftgo/orders/{order}/revise", revision, format="json")) == [("1", 6)]
    revision = {"revisedOrderLineItems": [{"menuItemId": "1", "quantity": 7.5}]}
    assert lines(ftgo.post(f"/ftgo/orders/{order}/revise", revision, format="json")) == [("1", 7)]


@pytest.mark.parametrize("quantity", [None, "", "null", False, "2.0"])
def test_a_revision_refuses_a_quantity_jackson_refuses_or_reads_as_zero_and_stores_nothing(
    ftgo: APIClient, known: dict[str, int], quantity: object
) -> None:
    both = [{"menuItemId": "1", "quantity": 5}, {"menuItemId": "2", "quantity": 2}]
    order = created(place(ftgo, known, lineItems=both), "orderId")
    before = all_insert_only_counts()
    revision = {
        "revisedOrderLineItems": [{"menuItemId": "1", "quantity": 5}, {"menuItemId": "2", "quantity": quantity}]
    }
    response = ftgo.post(f"/ftgo/orders/{order}/revise", revision, format="json")
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["error"]["details"]] == ["revisedOrderLineItems[1].quantity"]
    assert all_insert_only_counts() == before
    assert lines(ftgo.get(f"/ftgo/orders/{order}")) == [("1", 5), ("2", 2)]


def test_tpfgos_own_api_still_refuses_a_quantity_as_text(db: None) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='ops', name='test-ops').key}")
    body = {
        "consumerId": "alice",
        "restaurantId": "ajanta",
        "items": [{"menuItemId": "1", "quantity": "5"}],
        "deliveryAddress": {"street1": "1 Main", "city": "Oakland", "state": "CA", "zip": "94611"},
    }
    before = all_insert_only_counts()
    response = client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="strict-1")
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["error"]["details"]] == ["items[0].quantity"]
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (5, 5),
        (-7.9, -7),
        ("\x00 12 \x1f", 12),  # Java's trim drops U+0000 to U+0020
        ("-3", -3),
        ("\u0661\u0662", 12),  # Integer.parseInt takes digits of any script
        ("2147483648", "2147483648"),  # past an int: Jackson refuses it, so it is left as sent
        (2.0**31, 2.0**31),
        (True, True),
    ],
)
def test_an_int_is_read_as_jacksons_integer_parseint_and_cast_read_it(value: object, read: object) -> None:
    assert jackson.integer(value) == read and type(jackson.integer(value)) is type(read)
    assert jackson.integer("2147483648", jackson.LONG) == 2**31


def test_a_restaurant_takes_the_numbers_and_booleans_jackson_reads_as_text(ftgo: APIClient) -> None:
    body = restaurant_body(name=True)
    body["address"]["zip"] = 94611
    body["menu"]["menuItems"][0]["id"] = 1
    number = created(ftgo.post("/ftgo/restaurants", body, format="json"), "id")
    restaurant = Restaurant.objects.get(pk=FtgoAlias.objects.get(number=number).tpfgo_id)
    assert (restaurant.name, restaurant.address) == ("true", "1 Main Street, Unit 99, Oakland, CA 94611")
    assert ftgo.get(f"/ftgo/restaurants/{number}").json()["menu"]["menuItems"][0]["id"] == "1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": 1.5}, "name"),  # a fraction's text: refused here
        ({"address": {**restaurant_body()["address"], "zip": 94611.0}}, "address.zip"),
        ({"menu": {"menuItems": [{"id": 2.5, "name": "Soup", "price": "1.00"}]}}, "menu.menuItems[0].id"),
        ({"menu": {"menuItems": [{"id": "1", "name": None, "price": "1.00"}]}}, "menu.menuItems[0].name"),
    ],
)
def test_a_restaurant_refuses_what_is_not_read_as_text_and_stores_nothing(
    ftgo: APIClient, change: dict[str, Any], field: str
) -> None:
    before = all_insert_only_counts(), Restaurant.objects.count()
    response = ftgo.post("/ftgo/restaurants", {**restaurant_body(), **change}, format="json")
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    assert (all_insert_only_counts(), Restaurant.objects.count()) == before


@pytest.mark.parametrize(
    ("available", "read"),
    [(True, True), (1, True), (2, True), (0, False), ("true", True), (" True\n", True), ("False", False)],
)
def test_a_couriers_availability_takes_what_jackson_reads_as_a_boolean(
    ftgo: APIClient, available: object, read: bool
) -> None:
    answer = ftgo.post("/ftgo/couriers/41/availability", {"available": available}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"courierId": 41, "available": read}
    assert Courier.objects.get(pk=FtgoAlias.objects.get(number=41).tpfgo_id).available is read


@pytest.mark.parametrize("available", [None, "", "null", "yes", "TRUE", 1.0, [True]])
def test_a_couriers_availability_refuses_what_jackson_refuses_or_reads_as_false_and_stores_nothing(
    ftgo: APIClient, available: object
) -> None:
    before = all_insert_only_counts(), Courier.objects.count()
    answer = ftgo.post("/ftgo/couriers/41/availability", {"available": available}, format="json")
    assert answer.status_code == 400, answer.content
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["available"]
    assert (all_insert_only_counts(), Courier.objects.count()) == before


def test_a_couriers_availability_of_minus_zero_is_refused_as_jackson_versions_disagree(ftgo: APIClient) -> None:
    """Python reads the JSON integer -0 as 0, so it set the courier unavailable; FTGO's Jackson 2.9 reads a boolean
    from the integer's text (true unless it is "0"), so FTGO made the courier available. Later Jackson reads false."""
    before = all_insert_only_counts(), Courier.objects.count()
    answer = ftgo.post("/ftgo/couriers/41/availability", '{"available": -0}', content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["available"]
    assert (all_insert_only_counts(), Courier.objects.count()) == before


def test_minus_zero_reads_as_jackson_reads_it_into_an_int_and_a_string() -> None:
    import io

    data = jackson.JacksonJSONParser().parse(io.BytesIO(b'{"a": -0, "b": 0, "c": [-0]}'))
    assert [type(data["a"]), type(data["b"]), type(data["c"][0])] == [jackson.NegativeZero, int, jackson.NegativeZero]
    assert (jackson.integer(data["a"]), jackson.text(data["a"]), jackson.text(data["b"])) == (0, "-0", "0")
