"""Record that ops cancelled the order (ops-cancel), with who and why."""

from __future__ import annotations

from checkout.order_request.models import OrderRequest
from pipelines import NonRetryableError, Output, StepContext


def process(ctx: StepContext[OrderRequest]) -> Output:
    event = ctx.event or {}
    actor, reason = event.get("by"), event.get("reason")
    if not actor or not reason:
        raise NonRetryableError("ops-cancel needs who cancelled and why", code="INVALID_REMEDIATION")
    return Output({"order_id": ctx.input.order_id, "cancelled_by": actor, "reason": str(reason)[:500]})
