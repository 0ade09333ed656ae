"""Finalize the order: captured → COMPLETED, rejected → FAILED_COMPENSATED, review → wait for ops."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines import AWAIT, StepContext


def process(ctx: StepContext) -> Any:
    source = ctx.input
    outcome = selectors.payment_outcome(source.order_id)
    assert outcome is not None
    base = {"order_id": source.order_id, "payment_outcome": outcome.variant, "resolved_at": ctx.now}
    # resolve-payment-review hands on its resolution, or the void that followed a declined one.
    review = source if source.contract.name == "PaymentReviewResolved" else None
    if review is None and outcome.variant == "requires_review":
        review = selectors.payment_review(source.order_id)
    if review is not None:
        if review.approved:
            return {
                **base,
                "outcome": TerminalOrderState.COMPLETED,
                "resolution_action": "review-approved",
                "payment_id": review.payment_id,
            }
        return {**base, "outcome": TerminalOrderState.FAILED_COMPENSATED, "resolution_action": "review-declined"}
    if outcome.variant == "captured":
        return {
            **base,
            "outcome": TerminalOrderState.COMPLETED,
            "resolution_action": "none",
            "payment_id": outcome.payment_id,
        }
    if outcome.variant == "rejected":
        return {
            **base,
            "outcome": TerminalOrderState.FAILED_COMPENSATED,
            "resolution_action": "authorization-voided",
            "failure_code": outcome.failure_code,
        }
    return AWAIT  # requires_review: ops resolve it with resolve-payment-review
