"""Re-issue the kitchen ticket with the revised lines."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from pipelines import StepContext


def process(ctx: StepContext) -> dict[str, Any]:
    revised = ctx.input
    ticket = selectors.ticket(revised.order_id)
    assert ticket is not None
    return {
        "revision_id": revised.revision_id,
        "order_id": revised.order_id,
        "kitchen_ticket_id": ticket.kitchen_ticket_id,
        "lines": revised.lines,
    }
