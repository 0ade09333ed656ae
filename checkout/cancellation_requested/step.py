"""Record the consumer's request to cancel, with its note."""

from __future__ import annotations

from typing import Any

from pipelines import StepContext


def process(ctx: StepContext) -> dict[str, Any]:
    note = (ctx.event or {}).get("note") or None
    return {"order_id": ctx.input.order_id, "note": note}
