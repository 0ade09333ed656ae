"""Escalate an overdue delivery to ops: the pickup (its input is the assignment) or the dropoff (the pickup)."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from checkout.delivery_escalated.models import DeliveryEscalated
from pipelines import StepContext


def process(ctx: StepContext) -> Any:
    source = ctx.input
    picked_up = source.contract.name == "OrderPickedUp"
    courier_id = source.courier_id if picked_up else selectors.current_courier(source.order_id, source.courier_id)
    return {
        "order_id": source.order_id,
        "stage": DeliveryEscalated.DROPOFF if picked_up else DeliveryEscalated.PICKUP,
        "dispatch_id": source.dispatch_id,
        "courier_id": courier_id,
        "escalated_at": ctx.now,
    }
