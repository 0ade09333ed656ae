"""Record the consumer's request to cancel, with its note."""

from __future__ import annotations

from checkout.order_request.models import OrderRequest
from pipelines import Output, StepContext


def process(ctx: StepContext[OrderRequest]) -> Output:
    note = (ctx.event or {}).get("note") or None
    return Output({"order_id": ctx.input.order_id, "note": note})
