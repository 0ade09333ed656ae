"""Record the courier ops chose for the order (assign-courier); dispatch (05) then uses it."""

from __future__ import annotations

from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from pipelines import NonRetryableError, Output, StepContext


def process(ctx: StepContext[OrderReadyForDispatch]) -> Output:
    event = ctx.event or {}
    courier_id, chosen_by = event.get("courierId"), event.get("by")
    if not courier_id or not chosen_by:
        raise NonRetryableError("assign-courier needs a courierId and who chose it", code="INVALID_REMEDIATION")
    return Output({"order_id": ctx.input.order_id, "courier_id": courier_id, "chosen_by": chosen_by})
