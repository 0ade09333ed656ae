"""FTGO's paths with one trailing ``/``: Spring MVC, FTGO's web layer, serves them as the paths without it, and FTGO's
own clients send them (its consumer service's pass-through posts to ``/orders/`` and ``/restaurants/``)."""

from __future__ import annotations

from rest_framework.test import APIClient

from ftgo.models import FtgoAlias
from tests.ftgo.conftest import consumer_body, created, order_body, restaurant_body


def test_every_route_answers_with_one_trailing_slash_as_without_it(ftgo: APIClient) -> None:
    consumer = created(ftgo.post("/ftgo/consumers/", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants/", restaurant_body(), format="json"), "id")
    order = created(ftgo.post("/ftgo/orders/", order_body(consumer, restaurant), format="json"), "orderId")
    assert ftgo.get(f"/ftgo/consumers/{consumer}/").json()["consumerId"] == consumer
    assert ftgo.get(f"/ftgo/accounts/{consumer}/").status_code == 200
    assert ftgo.get(f"/ftgo/restaurants/{restaurant}/").json()["id"] == restaurant
    assert ftgo.get(f"/ftgo/orders/?consumerId={consumer}").json()["orders"][0]["orderId"] == str(order)
    assert ftgo.get(f"/ftgo/orders/{order}/").json()["state"] == "APPROVED"
    assert ftgo.get(f"/ftgo/deliveries/{order}/").json()["deliveryInfo"]["state"] == "PENDING"
    lines = {"revisedOrderLineItems": [{"menuItemId": "1", "quantity": 10}]}
    revised = ftgo.post(f"/ftgo/orders/{order}/revise/", lines, format="json")
    assert (revised.status_code, revised.json()["orderTotal"]) == (200, "123.40")
    courier = ftgo.post("/ftgo/couriers/1765000000000/availability/", {"available": True}, format="json")
    assert courier.status_code == 200
    assert (
        ftgo.post(f"/ftgo/tickets/{order}/accept/", {"readyBy": "2030-12-04T18:30"}, format="json").status_code == 200
    )
    assert ftgo.get(f"/ftgo/deliveries/{order}/").json()["assignedCourier"] is not None
    assert ftgo.post(f"/ftgo/orders/{order}/cancel/", "{}", content_type="application/json").status_code == 412
    assert FtgoAlias.objects.filter(kind="order").count() == 1


def test_two_trailing_slashes_are_no_route_and_the_schema_lists_each_route_once(ftgo: APIClient) -> None:
    answer = ftgo.get("/ftgo/orders//")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND")
    paths = [path for path in ftgo.get("/api/v1/schema?format=json").json()["paths"] if path.startswith("/ftgo/")]
    assert len(paths) == 12 and not [path for path in paths if path.endswith("/")]
