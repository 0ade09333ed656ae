"""The courier delivers the order: at once for an auto courier, on confirmation for a manual one."""

from __future__ import annotations

from checkout import selectors
from checkout.models import Courier
from checkout.order_picked_up.models import OrderPickedUp
from pipelines import AWAIT, Await, Output, StepContext


def process(ctx: StepContext[OrderPickedUp]) -> Output | Await:
    picked = ctx.input
    courier = selectors.courier(picked.courier_id)
    manual = courier is None or courier.completion_mode == Courier.MANUAL
    if manual and (ctx.event or {}).get("action") != "dropoff":
        return AWAIT
    assigned = selectors.delivery(picked.order_id)
    amount = selectors.current_total(picked.order_id)
    assert assigned is not None and amount is not None
    return Output(
        {
            "order_id": picked.order_id,
            "dispatch_id": picked.dispatch_id,
            "courier_id": picked.courier_id,
            "delivered_at": ctx.now,
            "amount": amount,
            "lineage_digest": assigned.lineage_digest,
        }
    )
