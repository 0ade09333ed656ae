"""FTGO surface fixtures: an authenticated client and FTGO's own bodies (EndToEndTests' values)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from access.tokens import create_token

VINDALOO = "1"
PRICE = "12.34"


@pytest.fixture
def ftgo(db: Any) -> APIClient:
    """A client with the FTGO gateway's token (the principal /ftgo/ is for)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='ftgo-gateway', name='test-ftgo-gateway').key}")
    return client


def consumer_body(first: str = "John", last: str = "Doe") -> dict[str, Any]:
    return {"name": {"firstName": first, "lastName": last}}


def restaurant_body(name: str = "My Restaurant", price: Any = PRICE) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"street1": "1 Main Street", "street2": "Unit 99", "city": "Oakland", "state": "CA", "zip": "94611"},
        "menu": {"menuItems": [{"id": VINDALOO, "name": "Chicken Vindaloo", "price": price}]},
    }


def order_body(consumer: int, restaurant: int, quantity: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "consumerId": consumer,
        "restaurantId": restaurant,
        "deliveryAddress": {
            "street1": "9 Amazing View",
            "street2": None,
            "city": "Oakland",
            "state": "CA",
            "zip": "94612",
        },
        "deliveryTime": [2026, 12, 4, 18, 30, 5, 123000000],
        "lineItems": [{"menuItemId": VINDALOO, "quantity": quantity}],
        **extra,
    }


def created(response: Any, field: str) -> int:
    assert response.status_code == 200, response.content
    number = response.json()[field]
    assert isinstance(number, int) and number > 0
    return number


@pytest.fixture
def placed(ftgo: APIClient) -> dict[str, int]:
    """A consumer, a restaurant (manual acceptance) and one order of 5 vindaloos, all made the FTGO way."""
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants", restaurant_body(), format="json"), "id")
    order = created(ftgo.post("/ftgo/orders", order_body(consumer, restaurant), format="json"), "orderId")
    return {"consumer": consumer, "restaurant": restaurant, "order": order}
