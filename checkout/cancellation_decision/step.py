"""Accept or refuse the cancellation: ALREADY_TERMINAL first (the order ended, or the restaurant declined it), then
ALREADY_PREPARING."""

from __future__ import annotations

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_decision.models import CancellationRefused
from checkout.cancellation_requested.models import CancellationRequested
from checkout.kitchen_commitment.models import KitchenCommitment
from pipelines import Output, StepContext


def process(ctx: StepContext[KitchenCommitment | AcceptanceDecision | CancellationRequested]) -> Output:
    order_id = ctx.input.order_id
    # The restaurant's rejection (or its timeout) took the ticket's decision: its own pipeline ends the order, and
    # this cancellation lost the race for the decision slot, even while that pipeline has not finished.
    decided = selectors.acceptance(order_id)
    declined = decided is not None and decided.decided_by in (AcceptanceDecision.REJECTED, AcceptanceDecision.TIMED_OUT)
    if declined or selectors.is_terminal(order_id):
        return Output({"order_id": order_id, "reason": CancellationRefused.ALREADY_TERMINAL}, model=CancellationRefused)
    if selectors.claimed_by_kitchen(order_id):
        return Output(
            {"order_id": order_id, "reason": CancellationRefused.ALREADY_PREPARING}, model=CancellationRefused
        )
    return Output({"order_id": order_id, "accepted_at": ctx.now})
