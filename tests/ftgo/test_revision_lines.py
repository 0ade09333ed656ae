"""A revision is the order's full new list of lines (docs/ftgo.md, "Errors"): FTGO's order service takes only one
that lists every line and adds none; here a line left out is taken off and a menu item may be added."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.ftgo.conftest import consumer_body, created, order_body, restaurant_body


def test_a_revision_that_leaves_out_the_orders_line_and_adds_another_item_replaces_the_lines(
    ftgo: APIClient,
) -> None:
    menu = restaurant_body()
    menu["menu"]["menuItems"].append({"id": "2", "name": "Naan", "price": "3.00"})
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants", menu, format="json"), "id")
    order = created(ftgo.post("/ftgo/orders", order_body(consumer, restaurant), format="json"), "orderId")
    lines = {"revisedOrderLineItems": [{"menuItemId": "2", "quantity": 30}]}
    revised = ftgo.post(f"/ftgo/orders/{order}/revise", lines, format="json")
    assert revised.status_code == 200, revised.content
    assert (revised.json()["orderTotal"], revised.json()["lineItems"]) == (
        "90.00",
        [{"menuItemId": "2", "name": "Naan", "quantity": 30, "price": "3.00"}],
    )
