"""Finalize the order: captured → COMPLETED, rejected → FAILED_COMPENSATED, review → wait for ops."""

from __future__ import annotations

from checkout import selectors
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines import AWAIT, Await, Output, StepContext


def process(ctx: StepContext[AuthorizationVoided | PaymentOutcome | PaymentReviewResolved]) -> Output | Await:
    source = ctx.input
    outcome = selectors.payment_outcome(source.order_id)
    assert outcome is not None
    base = {"order_id": source.order_id, "payment_outcome": outcome.variant, "resolved_at": ctx.now}
    # resolve-payment-review hands on its resolution, or the void that followed a declined one.
    review = source if isinstance(source, PaymentReviewResolved) else None
    if review is None and outcome.variant == "requires_review":
        review = selectors.payment_review(source.order_id)
    if review is not None:
        if review.approved:
            return Output(
                {
                    **base,
                    "outcome": TerminalOrderState.COMPLETED,
                    "resolution_action": "review-approved",
                    "payment_id": review.payment_id,
                }
            )
        return Output(
            {**base, "outcome": TerminalOrderState.FAILED_COMPENSATED, "resolution_action": "review-declined"}
        )
    if outcome.variant == "captured":
        return Output(
            {
                **base,
                "outcome": TerminalOrderState.COMPLETED,
                "resolution_action": "none",
                "payment_id": outcome.payment_id,
            }
        )
    if outcome.variant == "rejected":
        return Output(
            {
                **base,
                "outcome": TerminalOrderState.FAILED_COMPENSATED,
                "resolution_action": "authorization-voided",
                "failure_code": outcome.failure_code,
            }
        )
    return AWAIT  # requires_review: ops resolve it with resolve-payment-review
