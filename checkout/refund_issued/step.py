"""Refund a captured payment (ops-cancel of an order whose payment was already captured); else nothing."""

from __future__ import annotations

from checkout import payments, selectors
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.ops_cancellation.models import OpsCancellation
from pipelines import SKIP, Output, Produced, StepContext


def process(ctx: StepContext[AuthorizationVoided | OpsCancellation]) -> Produced:
    order_id = ctx.input.order_id
    outcome = selectors.payment_outcome(order_id)
    if outcome is None or outcome.variant != "captured" or not outcome.payment_id:
        return SKIP  # nothing was captured: the authorization was voided instead (or there was none)
    refund_id = payments.gateway().refund(order_id, outcome.payment_id, outcome.amount)
    return Output(
        {"order_id": order_id, "payment_id": outcome.payment_id, "refund_id": refund_id, "amount": outcome.amount}
    )
