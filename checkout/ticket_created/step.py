"""Create the kitchen ticket; its deadline decides when an unanswered ticket times out."""

from __future__ import annotations

import datetime

from django.conf import settings

from checkout import selectors
from checkout.models import Restaurant
from checkout.order_approved.models import OrderApproved
from pipelines import Output, StepContext


def process(ctx: StepContext[OrderApproved]) -> Output:
    approved = ctx.input
    snapshot = selectors.initial_order(approved.order_id)
    assert snapshot is not None
    restaurant = selectors.restaurant(approved.restaurant_id)
    mode = restaurant.acceptance_mode if restaurant else Restaurant.MANUAL
    deadline = datetime.timedelta(minutes=settings.TPFGO_ACCEPTANCE_DEADLINE_MINUTES)
    return Output(
        {
            "order_id": approved.order_id,
            "kitchen_ticket_id": ctx.output_id,
            "restaurant_id": approved.restaurant_id,
            "lines": snapshot.lines,
            "acceptance_mode": mode,
            "accept_by": ctx.now + deadline,
        }
    )
