"""The dashboard's Orders stalled: retrying, held by a paused step and dead-lettered orders, each counted apart."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from checkout import services
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


def test_orders_stalled_counts_retrying_held_and_dead_orders_apart_each_linking_to_its_list(ops_client, dead_order):
    retrying = uuid.UUID(services.place_order(order_body(), "still-retrying").view["orderId"])  # no courier either
    paused = ops_client.post(
        reverse("ops:pauses"), {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "night shift"}
    )
    assert paused.status_code == 302
    held = uuid.UUID(services.place_order(order_body(), "held-by-pause").view["orderId"])

    page = ops_client.get(reverse("ops:index")).content.decode()
    row = re.search(r'<tr data-step="dispatch/delivery_assigned">(.*?)</tr>', page, re.S)
    assert row
    cells = dict(re.findall(r'<td class="num" data-status="(\w+)">(.*?)</td>', row.group(1)))
    counts = {status: re.sub(r"<[^>]+>", "", cell) for status, cell in cells.items()}
    assert counts == {"open": "3", "retrying": "1", "held": "1", "dead": "1"}

    expected = {
        "open": {dead_order, retrying, held},
        "retrying": {retrying},
        "held": {held},
        "dead": {dead_order},
    }
    for status, orders in expected.items():
        link = re.search(r'href="([^"]+)"', cells[status])
        assert link, status
        listed = ops_client.get(link.group(1).replace("&amp;", "&")).content.decode()
        shown = {uuid.UUID(t) for t in re.findall(r'href="/ops/lineage/([0-9a-f-]{36})/"', listed)}
        assert shown == orders, status
