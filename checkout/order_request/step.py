"""Record the validated command as the order's first fact, with its line items."""

from __future__ import annotations

from checkout.order_request.models import LineItem
from pipelines import Command, Output, StepContext


def process(ctx: StepContext[Command]) -> Output:
    command = ctx.input.payload
    lines = [
        LineItem(
            order_request_id=ctx.output_id, line_number=n, menu_item_id=item["menuItemId"], quantity=item["quantity"]
        )
        for n, item in enumerate(command["items"], start=1)
    ]
    fields = {
        "order_id": ctx.input.id,
        "request_id": command["requestId"],
        "consumer_id": command["consumerId"],
        "restaurant_id": command["restaurantId"],
        "delivery_address": command["deliveryAddress"],
        "delivery_time": command.get("deliveryTime"),
        "payment_token": command.get("paymentToken"),
        "command_hash": command["commandHash"],
    }
    return Output(fields, children=lines)
