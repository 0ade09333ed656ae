"""An order the retention policy purged, as FTGO's clients meet it: its number answers 410 ``PURGED`` on every
route that names it (the ticket and the delivery are named by the order's number), and a retry with its
``Idempotency-Key`` places nothing."""

from __future__ import annotations

import datetime

from django.utils import timezone
from rest_framework.test import APIClient

from pipelines.recovery import deadlines, retention
from tests.conftest import all_insert_only_counts
from tests.ftgo.conftest import order_body

LINE = {"menuItemId": "1", "quantity": 1}
LATER = datetime.timedelta(days=400)  # past the default 365-day orders policy


def test_a_purged_orders_number_answers_purged_on_every_route_and_its_key_places_nothing(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    body = order_body(placed["consumer"], placed["restaurant"])
    keyed = ftgo.post("/ftgo/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="ftgo-purged-1").json()["orderId"]
    for number in (placed["order"], keyed):
        assert ftgo.post(f"/ftgo/orders/{number}/cancel", {}, format="json").status_code == 200
    deadlines.expire(now=timezone.now() + datetime.timedelta(hours=1))  # beat settles the cancelled orders' waits
    (outcome,) = retention.purge(actor="test", policies=["orders"], now=timezone.now() + LATER)
    assert outcome.items == 2
    before = all_insert_only_counts()

    answers = [
        ftgo.get(f"/ftgo/orders/{keyed}"),
        ftgo.post(f"/ftgo/orders/{keyed}/cancel", {}, format="json"),
        ftgo.post(f"/ftgo/orders/{keyed}/revise", {"revisedOrderLineItems": [LINE]}, format="json"),
        ftgo.post(f"/ftgo/tickets/{keyed}/accept", {}, format="json"),
        ftgo.get(f"/ftgo/deliveries/{keyed}"),
        ftgo.post("/ftgo/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="ftgo-purged-1"),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(410, "PURGED")] * 6
    assert ftgo.get(f"/ftgo/orders?consumerId={placed['consumer']}").json() == {"orders": [], "startKey": None}
    assert all_insert_only_counts() == before
