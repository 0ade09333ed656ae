"""Record ops' resolution of a payment that required review: approved (captured now) or declined."""

from __future__ import annotations

from checkout import payments, selectors
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_review_resolved.models import PaymentReviewResolved
from pipelines import NonRetryableError, Output, StepContext


def process(ctx: StepContext[PaymentOutcome]) -> Output:
    outcome = ctx.input
    event = ctx.event or {}
    approved, resolved_by = event.get("approved"), event.get("by")
    if not isinstance(approved, bool) or not resolved_by:
        raise NonRetryableError("resolve-payment-review needs approved and who decided", code="INVALID_REMEDIATION")
    payment_id = None
    # Already resolved (this step run again, or a racing resolution that committed first): never charge again.
    # The stored row decides: the same decision is a replay, the other one loses (pipelines' decision_fields).
    stored = PaymentReviewResolved.objects.filter(order_id=outcome.order_id).first()
    if stored is not None:
        payment_id = stored.payment_id
    elif approved:
        authorization = selectors.current_authorization(outcome.order_id)
        assert authorization is not None
        payment_id = payments.gateway().capture_reviewed(outcome.order_id, authorization, outcome.amount)
    return Output(
        {"order_id": outcome.order_id, "approved": approved, "resolved_by": resolved_by, "payment_id": payment_id}
    )
