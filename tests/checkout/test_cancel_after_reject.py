"""A restaurant's rejection takes the ticket's decision: a cancellation that comes while the rejection's own
pipeline (restaurant-declined: void, then OrderCancelled) has not finished lost the race for the decision slot,
and is refused like one that comes after it (docs/chain.md: "The loser stops and records its refusal")."""

from __future__ import annotations

import uuid

import pytest

from checkout import services
from checkout.cancellation_decision.models import CancellationAccepted
from checkout.order_cancelled.models import OrderCancelled
from checkout.ticket_withdrawn.models import TicketWithdrawn
from pipelines.engine.registry import composition
from pipelines.recovery import pausing
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db


def test_a_cancellation_after_the_restaurants_rejection_is_refused_while_the_rejection_is_still_voiding(demo_data):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    pausing.pause(composition(), "restaurant-declined", "authorization_voided", actor="ops:test", reason="gateway slow")
    services.reject_ticket(view["kitchenTicketId"], "closed tonight")
    order_id = uuid.UUID(view["orderId"])
    assert not OrderCancelled.objects.filter(order_id=order_id).exists()  # the rejection waits at its void

    answer = services.cancel_order(order_id)

    assert answer["cancellation"] == {"outcome": "REFUSED", "reason": "ALREADY_TERMINAL"}
    assert not CancellationAccepted.objects.filter(order_id=order_id).exists()
    assert not TicketWithdrawn.objects.filter(order_id=order_id).exists()
    assert not OrderCancelled.objects.filter(order_id=order_id).exists()
