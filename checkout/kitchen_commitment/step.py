"""Claim the order for the kitchen (preparation starts) or for a cancellation (it never will)."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from checkout.kitchen_commitment.models import KitchenCommitment
from pipelines import AWAIT, SKIP, StepContext


def process(ctx: StepContext) -> Any:
    source = ctx.input
    if source.contract.name == "OrderAcceptedByRestaurant":
        return {"order_id": source.order_id, "claimed_by": KitchenCommitment.KITCHEN}
    if selectors.is_terminal(source.order_id):
        return SKIP
    if source.contract.name == "CancellationRequested" and selectors.acceptance(source.order_id) is None:
        # Its claim of the decision slot lost to a revision: wait, undecided; asking again (or the sweeper)
        # claims the next round once the revision is decided.
        return AWAIT
    return {"order_id": source.order_id, "claimed_by": KitchenCommitment.CANCELLATION}
