"""Price the order from the menu and resolve the payment token; the result is a snapshot."""

from __future__ import annotations

from decimal import Decimal

from checkout import pricing, selectors
from checkout.order_request.models import OrderRequest
from pipelines import NonRetryableError, Output, Produced, StepContext

DEFAULT_TOKEN = "tok_ok"


def process(ctx: StepContext[OrderRequest]) -> Produced:
    request = ctx.input
    restaurant = selectors.restaurant(request.restaurant_id)
    if restaurant is None:
        raise NonRetryableError(f"restaurant {request.restaurant_id} no longer exists", code="INVALID_DATA")
    menu = selectors.menu(restaurant.pk)
    lines = []
    total = Decimal("0.00")
    for line in request.line_items.all():
        item = menu.get(line.menu_item_id)
        if item is None:
            raise NonRetryableError(f"menu item {line.menu_item_id} is no longer on the menu", code="INVALID_DATA")
        priced, line_total = pricing.line(item, line.quantity)
        total += line_total
        lines.append(priced)
    consumer = selectors.consumer(request.consumer_id)
    token = request.payment_token or (consumer.payment_token if consumer else "") or DEFAULT_TOKEN
    return Output(
        {
            "order_id": request.order_id,
            "consumer_id": request.consumer_id,
            "restaurant_id": request.restaurant_id,
            "currency": restaurant.currency,
            "order_total": total,
            "lines": lines,
            "payment_token": token,
        }
    )
