"""Withdraw the kitchen ticket of a cancelled order, if one was created."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from pipelines import SKIP, StepContext


def process(ctx: StepContext) -> Any:
    ticket = selectors.ticket(ctx.input.order_id)
    if ticket is None:
        return SKIP
    return {"order_id": ctx.input.order_id, "kitchen_ticket_id": ticket.kitchen_ticket_id}
