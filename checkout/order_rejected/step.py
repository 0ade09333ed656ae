"""Reject the order: the consumer failed verification, or the payment was declined."""

from __future__ import annotations

from typing import Any

from pipelines import StepContext


def process(ctx: StepContext) -> dict[str, Any]:
    source = ctx.input
    if source.contract.name == "PaymentDeclined":
        return {"order_id": source.order_id, "reason": "PAYMENT_DECLINED", "detail": source.decline_code}
    return {"order_id": source.order_id, "reason": source.reason, "detail": source.detail}
