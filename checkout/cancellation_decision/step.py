"""Accept or refuse the cancellation: ALREADY_TERMINAL first, then ALREADY_PREPARING."""

from __future__ import annotations

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_decision.models import CancellationRefused
from checkout.cancellation_requested.models import CancellationRequested
from checkout.kitchen_commitment.models import KitchenCommitment
from pipelines import Output, Produced, StepContext


def process(ctx: StepContext[KitchenCommitment | AcceptanceDecision | CancellationRequested]) -> Produced:
    order_id = ctx.input.order_id
    if selectors.is_terminal(order_id):
        return Output({"order_id": order_id, "reason": CancellationRefused.ALREADY_TERMINAL}, model=CancellationRefused)
    if selectors.claimed_by_kitchen(order_id):
        return Output(
            {"order_id": order_id, "reason": CancellationRefused.ALREADY_PREPARING}, model=CancellationRefused
        )
    return Output({"order_id": order_id, "accepted_at": ctx.now})
