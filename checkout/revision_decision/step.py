"""Accept the revision that holds its round and was re-authorized; otherwise refuse it, saying why."""

from __future__ import annotations

from checkout import revisions
from checkout.payment_reauthorized.models import PaymentReauthorized, ReauthorizationDeclined
from checkout.revision_decision.models import RevisionRefused
from checkout.revision_requested.models import RevisionRequested
from pipelines import Output, StepContext


def process(ctx: StepContext[PaymentReauthorized | RevisionRequested | ReauthorizationDeclined]) -> Output:
    source = ctx.input
    ids = {"revision_id": source.revision_id, "order_id": source.order_id}
    if isinstance(source, PaymentReauthorized):
        return Output({**ids, "accepted_at": ctx.now})
    if isinstance(source, ReauthorizationDeclined):
        return Output({**ids, "reason": RevisionRefused.PAYMENT_DECLINED}, model=RevisionRefused)
    # The claim was skipped by the rules or lost to another claimant of the same round: say which.
    reason = revisions.refusal(source) or RevisionRefused.REVISION_PENDING
    return Output({**ids, "reason": reason}, model=RevisionRefused)
