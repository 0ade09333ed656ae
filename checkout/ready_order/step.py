"""The priced order becomes the handoff of pipeline 01."""

from __future__ import annotations

from checkout import selectors
from checkout.initial_order.models import InitialOrder
from pipelines import Output, StepContext


def process(ctx: StepContext[InitialOrder]) -> Output:
    order = ctx.input
    request = selectors.order_request(order.order_id)
    assert request is not None  # the parent of this order's InitialOrder
    return Output(
        {
            "order_id": order.order_id,
            "request_id": request.request_id,
            "consumer_id": order.consumer_id,
            "restaurant_id": order.restaurant_id,
            "order_total": order.order_total,
            "currency": order.currency,
        }
    )
