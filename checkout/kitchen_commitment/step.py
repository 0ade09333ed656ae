"""Claim the order for the kitchen (preparation starts) or for a cancellation (it never will)."""

from __future__ import annotations

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_requested.models import CancellationRequested
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.order_accepted_by_restaurant.models import OrderAcceptedByRestaurant
from pipelines import AWAIT, SKIP, Output, Produced, StepContext


def process(ctx: StepContext[OrderAcceptedByRestaurant | AcceptanceDecision | CancellationRequested]) -> Produced:
    source = ctx.input
    if isinstance(source, OrderAcceptedByRestaurant):
        return Output({"order_id": source.order_id, "claimed_by": KitchenCommitment.KITCHEN})
    if selectors.is_terminal(source.order_id):
        return SKIP
    if isinstance(source, CancellationRequested) and selectors.acceptance(source.order_id) is None:
        # Its claim of the decision slot lost to a revision: wait, undecided; asking again (or the sweeper)
        # claims the next round once the revision is decided.
        return AWAIT
    return Output({"order_id": source.order_id, "claimed_by": KitchenCommitment.CANCELLATION})
