"""The courier picks the order up: at once for an auto courier, on confirmation for a manual one."""

from __future__ import annotations

from checkout import selectors
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import Courier
from pipelines import AWAIT, Await, Output, StepContext


def process(ctx: StepContext[DeliveryAssigned]) -> Output | Await:
    assigned = ctx.input
    courier_id = assigned.courier_id
    if ctx.event:  # a confirmed pickup: an overdue one may have been reassigned meanwhile (courier-reassignment)
        courier_id = selectors.current_courier(assigned.order_id, assigned.courier_id)
    courier = selectors.courier(courier_id)
    manual = courier is None or courier.completion_mode == Courier.MANUAL
    if manual and (ctx.event or {}).get("action") != "pickup":
        return AWAIT
    return Output(
        {
            "order_id": assigned.order_id,
            "dispatch_id": assigned.dispatch_id,
            "courier_id": courier_id,
            "picked_up_at": ctx.now,
        }
    )
