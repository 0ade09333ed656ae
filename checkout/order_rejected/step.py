"""Reject the order: the consumer failed verification, or the payment was declined."""

from __future__ import annotations

from checkout.consumer_verified.models import ConsumerRejected
from checkout.payment_authorized.models import PaymentDeclined
from pipelines import Output, StepContext


def process(ctx: StepContext[ConsumerRejected | PaymentDeclined]) -> Output:
    source = ctx.input
    if isinstance(source, PaymentDeclined):
        return Output({"order_id": source.order_id, "reason": "PAYMENT_DECLINED", "detail": source.decline_code})
    return Output({"order_id": source.order_id, "reason": source.reason, "detail": source.detail})
