"""Cancel the order, with the reason of the path that got here."""

from __future__ import annotations

from checkout import contracts
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.cancellation_decision.models import CancellationAccepted
from checkout.ops_cancellation.models import OpsCancellation
from checkout.order_accepted_by_restaurant.models import AcceptanceTimedOut, TicketRejected
from checkout.refund_issued.models import RefundIssued
from checkout.ticket_withdrawn.models import TicketWithdrawn
from pipelines import Output, StepContext

# What it cancels after: a void, a restaurant's decline with nothing to void, a cancellation, ops.
Source = (
    AuthorizationVoided
    | TicketRejected
    | AcceptanceTimedOut
    | TicketWithdrawn
    | CancellationAccepted
    | OpsCancellation
    | RefundIssued
)


def process(ctx: StepContext[Source]) -> Output:
    source = ctx.input
    if isinstance(source, AuthorizationVoided):
        reason = source.reason
    elif isinstance(source, OpsCancellation | RefundIssued):
        reason = contracts.OPS_CANCELLED
    else:  # CancellationAccepted or TicketWithdrawn, with nothing to void
        reason = contracts.CONSUMER_CANCELLED
    return Output({"order_id": source.order_id, "reason": reason, "cancelled_at": ctx.now})
