"""Re-issue the kitchen ticket with the revised lines."""

from __future__ import annotations

from checkout import selectors
from checkout.revised_order.models import RevisedOrder
from pipelines import Output, StepContext


def process(ctx: StepContext[RevisedOrder]) -> Output:
    revised = ctx.input
    ticket = selectors.ticket(revised.order_id)
    assert ticket is not None
    return Output(
        {
            "revision_id": revised.revision_id,
            "order_id": revised.order_id,
            "kitchen_ticket_id": ticket.kitchen_ticket_id,
            "lines": revised.lines,
        }
    )
