"""Accept or refuse the cancellation: ALREADY_TERMINAL first, then ALREADY_PREPARING, then REVISION_PENDING."""

from __future__ import annotations

from checkout import selectors
from checkout.cancellation_decision.models import CancellationRefused
from checkout.kitchen_commitment.models import KitchenCommitment
from pipelines.runner import Output, StepContext


def process(ctx: StepContext) -> Output:
    order_id = ctx.input.order_id
    if selectors.is_terminal(order_id):
        return Output({"order_id": order_id, "reason": CancellationRefused.ALREADY_TERMINAL}, model=CancellationRefused)
    if selectors.claimed_by_kitchen(order_id):
        return Output(
            {"order_id": order_id, "reason": CancellationRefused.ALREADY_PREPARING}, model=CancellationRefused
        )
    if not selectors.has(KitchenCommitment, order_id):  # a revision held the decision slot: retry after it
        return Output({"order_id": order_id, "reason": CancellationRefused.REVISION_PENDING}, model=CancellationRefused)
    return Output({"order_id": order_id, "accepted_at": ctx.now})
