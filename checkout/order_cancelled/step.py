"""Cancel the order, with the reason of the path that got here."""

from __future__ import annotations

from typing import Any

from checkout import contracts
from pipelines import StepContext


def process(ctx: StepContext) -> dict[str, Any]:
    source = ctx.input
    name = source.contract.name
    if name == "AuthorizationVoided":
        reason = source.reason
    elif name in ("OpsCancellation", "RefundIssued"):
        reason = contracts.OPS_CANCELLED
    else:  # CancellationAccepted or TicketWithdrawn, with nothing to void
        reason = contracts.CONSUMER_CANCELLED
    return {"order_id": source.order_id, "reason": reason, "cancelled_at": ctx.now}
