"""Assign a courier: ops' choice if one was recorded, else the fewest active deliveries, then the lowest id."""

from __future__ import annotations

import uuid

from django.conf import settings

from checkout import selectors
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from pipelines import Output, RetryableError, StepContext


class NoCourierAvailable(RetryableError):
    """Transient: the item parks and completes once a courier is available."""

    code = "NO_COURIER_AVAILABLE"


def process(ctx: StepContext[OrderReadyForDispatch]) -> Output:
    ready = ctx.input
    courier_id = _choose(ready.order_id, (ctx.event or {}).get("courierId"))
    return Output(
        {
            "order_id": ready.order_id,
            "dispatch_id": ctx.output_id,
            "courier_id": courier_id,
            "eta_minutes": settings.TPFGO_DEFAULT_ETA_MINUTES,
            "assigned_at": ctx.now,
            "lineage_digest": ready.lineage_digest,
        }
    )


def _choose(order_id: uuid.UUID, chosen: str | None) -> str:
    available = loads = None
    if not chosen:  # ops' choice, the available couriers and their loads, read together
        chosen, available, loads = selectors.dispatch_candidates(order_id)
    if chosen:
        if selectors.courier(chosen) is None:
            raise RetryableError(f"courier {chosen} chosen by ops does not exist", code="UNKNOWN_COURIER")
        return chosen
    if available is None:
        available = selectors.available_couriers()
    if not available:
        raise NoCourierAvailable("no courier available")
    load = selectors.active_deliveries(available, loads)
    return min(available, key=lambda cid: (load[cid], cid))
