"""Re-authorize the revised total, only for a revision that holds the ticket's decision slot."""

from __future__ import annotations

from typing import Any

from checkout import payments, selectors
from checkout.payment_reauthorized.models import ReauthorizationDeclined
from pipelines import SKIP, Output, StepContext


def process(ctx: StepContext) -> Any:
    claim = ctx.input
    if claim.contract.name != "AcceptanceDecision":  # the claim was skipped or lost: nothing to authorize
        return SKIP
    revision = selectors.revision_request(claim.revision_id)
    snapshot = selectors.initial_order(claim.order_id)
    authorization = selectors.current_authorization(claim.order_id)
    assert revision is not None and snapshot is not None and authorization is not None
    result = payments.gateway().reauthorize(
        claim.order_id, authorization, revision.order_total, revision.currency, snapshot.payment_token, ctx.attempt
    )
    ids = {"revision_id": revision.revision_id, "order_id": revision.order_id}
    if not result.approved:
        return Output({**ids, "decline_code": result.decline_code}, model=ReauthorizationDeclined)
    return Output({**ids, "authorization_id": result.authorization_id, "amount": revision.order_total})
