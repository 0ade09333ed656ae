"""Price the order from the menu and resolve the payment token (sealed: ``checkout.personal``); the result is a
snapshot."""

from __future__ import annotations

from decimal import Decimal

from checkout import personal, pricing, selectors
from checkout.models import Consumer
from checkout.order_request.models import OrderRequest
from pipelines import NonRetryableError, Output, StepContext

DEFAULT_TOKEN = "tok_ok"


def process(ctx: StepContext[OrderRequest]) -> Output:
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
    # The request's token is sealed already (checkout.commands); the one on file is sealed here, as the order keeps it.
    token = request.payment_token or _on_file(selectors.consumer(request.consumer_id)) or DEFAULT_TOKEN
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


def _on_file(consumer: Consumer | None) -> str:
    """The consumer's token on file, sealed with their key; none for an erased consumer (erasure clears it too)."""
    if consumer is None or not consumer.payment_token or personal.is_erased(consumer):
        return ""
    return personal.seal(consumer, consumer.payment_token, "paymentToken")
