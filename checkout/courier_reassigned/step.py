"""Reassign an overdue pickup: the available courier with the fewest active deliveries, then the lowest id,
other than the one who did not pick it up; none available: nothing to record (the next round escalates)."""

from __future__ import annotations

from checkout import selectors
from checkout.delivery_assigned.models import DeliveryAssigned
from pipelines import SKIP, Output, Produced, StepContext


def process(ctx: StepContext[DeliveryAssigned]) -> Produced:
    assigned = ctx.input
    others = [cid for cid in selectors.available_couriers() if cid != assigned.courier_id]
    if not others:
        return SKIP
    load = selectors.active_deliveries(others)
    return Output(
        {
            "order_id": assigned.order_id,
            "dispatch_id": assigned.dispatch_id,
            "from_courier_id": assigned.courier_id,
            "courier_id": min(others, key=lambda cid: (load[cid], cid)),
            "reassigned_at": ctx.now,
        }
    )
