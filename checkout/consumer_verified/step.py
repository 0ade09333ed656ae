"""Verify the consumer is active and the order meets the restaurant's minimum (a decision)."""

from __future__ import annotations

from checkout import selectors
from checkout.consumer_verified.models import ConsumerRejected
from checkout.ready_order.models import ReadyOrder
from pipelines import Output, StepContext


def process(ctx: StepContext[ReadyOrder]) -> Output:
    order = ctx.input
    consumer = selectors.consumer(order.consumer_id)
    if consumer is None or not consumer.active:
        detail = f"consumer {order.consumer_id} is not active"
        return Output(
            {"order_id": order.order_id, "reason": "CONSUMER_VERIFICATION_FAILED", "detail": detail},
            model=ConsumerRejected,
        )
    restaurant = selectors.restaurant(order.restaurant_id)
    minimum = restaurant.order_minimum if restaurant else 0
    if order.order_total < minimum:
        detail = f"order total {order.order_total:.2f} is below the minimum {minimum:.2f}"
        return Output(
            {"order_id": order.order_id, "reason": "ORDER_MINIMUM_NOT_MET", "detail": detail}, model=ConsumerRejected
        )
    return Output({"order_id": order.order_id, "consumer_id": order.consumer_id, "order_total": order.order_total})
