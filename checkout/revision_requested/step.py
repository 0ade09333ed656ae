"""Record the revision request with its lines priced from the restaurant's current menu."""

from __future__ import annotations

import uuid
from decimal import Decimal

from checkout import pricing, selectors
from pipelines import Command, Output, StepContext


def process(ctx: StepContext[Command]) -> Output:
    command = ctx.input.payload
    order = selectors.initial_order(uuid.UUID(command["orderId"]))
    assert order is not None
    menu = selectors.menu(order.restaurant_id)
    lines, total = [], Decimal("0.00")
    for item in command["items"]:
        priced, line_total = pricing.line(menu[item["menuItemId"]], item["quantity"])
        lines.append(priced)
        total += line_total
    return Output(
        {
            "revision_id": ctx.input.id,
            "order_id": order.order_id,
            "request_id": command["requestId"],
            "lines": lines,
            "order_total": total,
            "currency": order.currency,
            "command_hash": command["commandHash"],
        }
    )
