"""The rules a revision must pass before it may claim the ticket's decision slot, each with a stable reason.

The claim step and the decision step share them: the claim is skipped when a rule refuses, and the decision
names the rule (or, for a claim lost to another claimant of the same round, what won).
"""

from __future__ import annotations

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.cancellation_decision.models import CancellationAccepted
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.revision_decision.models import RevisionRefused
from checkout.revision_requested.models import RevisionRequested


def refusal(revision: RevisionRequested) -> str | None:
    """Why the revision may not be applied now, or None."""
    order_id = revision.order_id
    decided = selectors.acceptance(order_id)
    cancelled = decided is not None and decided.decided_by == AcceptanceDecision.CANCELLED
    if cancelled or selectors.has(CancellationAccepted, order_id) or selectors.ops_cancellation(order_id):
        return RevisionRefused.ORDER_CANCELLED
    if selectors.is_terminal(order_id) or decided is not None or selectors.has(KitchenCommitment, order_id):
        return RevisionRefused.TOO_LATE
    if selectors.ticket(order_id) is None:
        return RevisionRefused.NOT_APPROVED
    if selectors.open_revision(order_id) not in (None, revision.revision_id):
        return RevisionRefused.REVISION_PENDING
    order = selectors.initial_order(order_id)
    restaurant = selectors.restaurant(order.restaurant_id) if order else None
    if restaurant is not None and revision.order_total < restaurant.order_minimum:
        return RevisionRefused.BELOW_MINIMUM
    return None
