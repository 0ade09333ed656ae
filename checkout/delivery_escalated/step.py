"""Escalate an overdue delivery to ops: the pickup (its input is the assignment) or the dropoff (the pickup)."""

from __future__ import annotations

from checkout import selectors
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.delivery_escalated.models import DeliveryEscalated
from checkout.order_picked_up.models import OrderPickedUp
from pipelines import Output, StepContext


def process(ctx: StepContext[DeliveryAssigned | OrderPickedUp]) -> Output:
    source = ctx.input
    picked_up = isinstance(source, OrderPickedUp)
    courier_id = source.courier_id if picked_up else selectors.current_courier(source.order_id, source.courier_id)
    return Output(
        {
            "order_id": source.order_id,
            "stage": DeliveryEscalated.DROPOFF if picked_up else DeliveryEscalated.PICKUP,
            "dispatch_id": source.dispatch_id,
            "courier_id": courier_id,
            "escalated_at": ctx.now,
        }
    )
