"""The order view's renderer (``checkout.order_view.OutputSerializer``) gives exactly what DRF's own
``Serializer.to_representation`` gives for the same views: a completed order, a revised one (nested revisions
with their lines) and one dead-lettered at payment (``stalled``)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework import serializers

from checkout import order_view, services, state
from checkout.bulk import place_orders
from tests.checkout.conftest import order_body, place

pytestmark = pytest.mark.django_db


def views(settings) -> list[order_view.OrderView]:
    settings.TPFGO_RETRY_POLICIES = {"consumer-validation.payment_authorized": {"max_attempts": 1}}
    completed = place().view["orderId"]
    revised = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 2}]).view["orderId"]
    services.revise_order(revised, {"items": [{"menuItemId": "crepe", "quantity": 3}]}, "rev-1")
    stalled = place_orders([(order_body(paymentToken="tok_flaky_1"), "stalled-1")])[0].view["orderId"]
    found = [state.order_view(uuid.UUID(o)) for o in (completed, revised, stalled)]
    assert found[1].revisions and found[2].stalled is not None and found[0].lines  # every nested shape is there
    return found


def test_the_renderer_gives_what_drf_gives(demo_data, settings, monkeypatch):
    shown = views(settings)
    fast = [order_view.OrderViewSerializer().to_representation(v) for v in shown]
    monkeypatch.setattr(order_view.OutputSerializer, "to_representation", serializers.Serializer.to_representation)
    generic = [dict(order_view.OrderViewSerializer().to_representation(v)) for v in shown]
    assert fast == generic
    assert [order_view.render(v) for v in shown] == generic
