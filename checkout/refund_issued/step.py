"""Refund a captured payment (ops-cancel of an order whose payment was already captured); else nothing."""

from __future__ import annotations

from typing import Any

from checkout import payments, selectors
from pipelines import SKIP, StepContext


def process(ctx: StepContext) -> Any:
    order_id = ctx.input.order_id
    outcome = selectors.payment_outcome(order_id)
    if outcome is None or outcome.variant != "captured" or not outcome.payment_id:
        return SKIP  # nothing was captured: the authorization was voided instead (or there was none)
    refund_id = payments.gateway().refund(order_id, outcome.payment_id, outcome.amount)
    return {"order_id": order_id, "payment_id": outcome.payment_id, "refund_id": refund_id, "amount": outcome.amount}
