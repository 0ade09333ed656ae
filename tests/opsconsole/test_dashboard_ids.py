"""The dashboard's ids: each link carries the whole id (its text and its title), so two ids never read alike and
copying one copies all of it; only the display of a narrow column is cut (by the stylesheet)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from checkout import services
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


def test_a_dead_letters_and_a_waiting_orders_links_carry_their_whole_id(ops_client, dead_order):
    manual = order_body(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}])
    waiting = uuid.UUID(services.place_order(manual, "awaits-acceptance").view["orderId"])
    page = ops_client.get(reverse("ops:index")).content.decode()
    for order in (dead_order, waiting):
        link = f'href="{reverse("ops:lineage", args=[order])}" title="{order}">{order}</a>'
        assert f'<a class="lineage-link ops-id" {link}' in page
