"""Capture the payment: captured, rejected (then voided in 08) or requires review (then ops decide)."""

from __future__ import annotations

from checkout import payments, personal, selectors
from checkout.order_delivered.models import OrderDelivered
from pipelines import Output, StepContext


def process(ctx: StepContext[OrderDelivered]) -> Output:
    delivered = ctx.input
    authorization = selectors.current_authorization(delivered.order_id)
    snapshot = selectors.initial_order(delivered.order_id)
    assert authorization is not None and snapshot is not None
    # The capture is of the authorization already made: a token erased since leaves it to the authorization's id.
    token = personal.payment_token(selectors.consumer(snapshot.consumer_id), snapshot.payment_token) or ""
    result = payments.gateway().capture(
        delivered.order_id,
        authorization,
        delivered.amount,
        token,
        ctx.attempt,
        key=payments.effect_key("capture", delivered.order_id),
    )
    return Output(
        {
            "order_id": delivered.order_id,
            "variant": result.variant,
            "payment_id": result.payment_id,
            "amount": delivered.amount,
            "failure_code": result.failure_code,
            "failure_reason": result.failure_reason,
            "review_reason": result.review_reason,
        }
    )
