"""Reference-data look-ups and edits the console offers (a courier's availability); never a checkpoint."""

from __future__ import annotations

from django.db.models import QuerySet

from checkout import selectors as checkout_selectors
from checkout.models import Courier


def active_deliveries(courier_id: str) -> int:
    return checkout_selectors.active_deliveries([courier_id]).get(courier_id, 0)


def set_availability(couriers: QuerySet[Courier], *, available: bool) -> int:
    """Couriers are mutable reference data: an availability flag is an ordinary update."""
    return couriers.exclude(available=available).update(available=available)
