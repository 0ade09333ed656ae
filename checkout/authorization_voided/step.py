"""Void the payment authorization, if there is one, naming the path that voided it."""

from __future__ import annotations

from checkout import contracts, payments, selectors
from checkout.cancellation_decision.models import CancellationAccepted
from checkout.ops_cancellation.models import OpsCancellation
from checkout.order_accepted_by_restaurant.models import AcceptanceTimedOut, TicketRejected
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.ticket_withdrawn.models import TicketWithdrawn
from pipelines import SKIP, Output, Produced, StepContext

# What it voids after: the chain's capture, a restaurant's decline, a cancellation, ops, a declined review.
Source = (
    PaymentOutcome
    | TicketRejected
    | AcceptanceTimedOut
    | TicketWithdrawn
    | CancellationAccepted
    | OpsCancellation
    | PaymentReviewResolved
)
REASONS: dict[type[Source], str] = {
    TicketRejected: contracts.RESTAURANT_DECLINED,
    AcceptanceTimedOut: contracts.ACCEPTANCE_TIMED_OUT_REASON,
    CancellationAccepted: contracts.CONSUMER_CANCELLED,
    TicketWithdrawn: contracts.CONSUMER_CANCELLED,
    PaymentOutcome: contracts.PAYMENT_REJECTED,
    OpsCancellation: contracts.OPS_CANCELLED,
    PaymentReviewResolved: contracts.PAYMENT_REVIEW_DECLINED,
}


def process(ctx: StepContext[Source]) -> Produced:
    source = ctx.input
    if isinstance(source, PaymentOutcome) and source.variant != "rejected":
        return SKIP
    if isinstance(source, PaymentReviewResolved) and source.approved:
        return SKIP  # approved: the payment was captured, nothing to void
    if isinstance(source, OpsCancellation) and selectors.is_captured(source.order_id):
        return SKIP  # captured: ops-cancel refunds it instead
    authorization = selectors.current_authorization(source.order_id)  # a revision's re-authorization replaces it
    if authorization is None:
        return SKIP
    payments.gateway().void(source.order_id, authorization)
    return Output(
        {
            "order_id": source.order_id,
            "authorization_id": authorization,
            "reason": REASONS[type(source)],
            "voided_at": ctx.now,
        }
    )
