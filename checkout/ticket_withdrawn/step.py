"""Withdraw the kitchen ticket of a cancelled order, if one was created."""

from __future__ import annotations

from checkout import selectors
from checkout.cancellation_decision.models import CancellationAccepted
from pipelines import SKIP, Output, Produced, StepContext


def process(ctx: StepContext[CancellationAccepted]) -> Produced:
    ticket = selectors.ticket(ctx.input.order_id)
    if ticket is None:
        return SKIP
    return Output({"order_id": ctx.input.order_id, "kitchen_ticket_id": ticket.kitchen_ticket_id})
