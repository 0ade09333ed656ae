"""Turn the acceptance decision into its outcome: accepted, rejected or timed out."""

from __future__ import annotations

from checkout import selectors
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.order_accepted_by_restaurant.models import AcceptanceTimedOut, TicketRejected
from pipelines import SKIP, Output, Produced, StepContext


def process(ctx: StepContext[AcceptanceDecision]) -> Produced:
    decision = ctx.input
    ticket = selectors.ticket(decision.order_id)
    assert ticket is not None
    base = {"order_id": decision.order_id, "kitchen_ticket_id": ticket.kitchen_ticket_id}
    if decision.decided_by == "ACCEPTED":
        return Output({**base, "accepted_at": ctx.now, "ready_by": decision.ready_by})
    if decision.decided_by == "REJECTED":
        return Output({**base, "reason": decision.reason or "restaurant rejected"}, model=TicketRejected)
    if decision.decided_by == "TIMED_OUT":
        return Output({**base, "deadline": ticket.accept_by}, model=AcceptanceTimedOut)
    return SKIP  # CANCELLED: the cancellation pipeline owns what happens next
