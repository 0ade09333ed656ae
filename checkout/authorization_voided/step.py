"""Void the payment authorization, if there is one, naming the path that voided it."""

from __future__ import annotations

from typing import Any

from checkout import contracts, payments, selectors
from pipelines import SKIP, StepContext

REASONS = {
    "TicketRejected": contracts.RESTAURANT_DECLINED,
    "AcceptanceTimedOut": contracts.ACCEPTANCE_TIMED_OUT_REASON,
    "CancellationAccepted": contracts.CONSUMER_CANCELLED,
    "TicketWithdrawn": contracts.CONSUMER_CANCELLED,
    "PaymentOutcome": contracts.PAYMENT_REJECTED,
    "OpsCancellation": contracts.OPS_CANCELLED,
    "PaymentReviewResolved": contracts.PAYMENT_REVIEW_DECLINED,
}


def process(ctx: StepContext) -> Any:
    source = ctx.input
    if source.contract.name == "PaymentOutcome" and source.variant != "rejected":
        return SKIP
    if source.contract.name == "PaymentReviewResolved" and source.approved:
        return SKIP  # approved: the payment was captured, nothing to void
    if source.contract.name == "OpsCancellation" and selectors.is_captured(source.order_id):
        return SKIP  # captured: ops-cancel refunds it instead
    authorization = selectors.current_authorization(source.order_id)  # a revision's re-authorization replaces it
    if authorization is None:
        return SKIP
    payments.gateway().void(source.order_id, authorization)
    return {
        "order_id": source.order_id,
        "authorization_id": authorization,
        "reason": REASONS[source.contract.name],
        "voided_at": ctx.now,
    }
