"""Re-authorize the revised total, only for a revision that holds the ticket's decision slot."""

from __future__ import annotations

from checkout import payments, personal, selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.payment_reauthorized.models import ReauthorizationDeclined
from checkout.revision_requested.models import RevisionRequested
from pipelines import SKIP, Output, Produced, StepContext


def process(ctx: StepContext[AcceptanceDecision | RevisionRequested]) -> Produced:
    claim = ctx.input
    if not isinstance(claim, AcceptanceDecision):  # the claim was skipped or lost: nothing to authorize
        return SKIP
    assert claim.revision_id is not None  # a REVISED claim names its revision
    revision = selectors.revision_request(claim.revision_id)
    snapshot = selectors.initial_order(claim.order_id)
    authorization = selectors.current_authorization(claim.order_id)
    assert revision is not None and snapshot is not None and authorization is not None
    ids = {"revision_id": revision.revision_id, "order_id": revision.order_id}
    token = personal.payment_token(selectors.consumer(snapshot.consumer_id), snapshot.payment_token)
    if token is None:  # the consumer's payment token was erased: the revised total cannot be authorized
        return Output({**ids, "decline_code": payments.CONSUMER_ERASED}, model=ReauthorizationDeclined)
    result = payments.gateway().reauthorize(
        claim.order_id, authorization, revision.order_total, revision.currency, token, ctx.attempt
    )
    if not result.approved:
        return Output({**ids, "decline_code": result.decline_code}, model=ReauthorizationDeclined)
    return Output({**ids, "authorization_id": result.authorization_id, "amount": revision.order_total})
