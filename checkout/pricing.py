"""A priced order line, the same for an order's snapshot and for a revision."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from checkout.models import MenuItem


def line(item: MenuItem, quantity: int) -> tuple[dict[str, Any], Decimal]:
    """The line as the order view shows it, and its total."""
    total = item.price * quantity
    priced = {
        "menuItemId": item.item_id,
        "name": item.name,
        "quantity": quantity,
        "unitPrice": f"{item.price:.2f}",
        "lineTotal": f"{total:.2f}",
    }
    return priced, total
