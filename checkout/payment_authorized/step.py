"""Authorize the order total with the gateway: the pivot, the chain's first external effect."""

from __future__ import annotations

from checkout import payments, personal, selectors
from checkout.consumer_verified.models import ConsumerVerified
from checkout.payment_authorized.models import PaymentDeclined
from pipelines import Output, StepContext


def process(ctx: StepContext[ConsumerVerified]) -> Output:
    verified = ctx.input
    snapshot = selectors.initial_order(verified.order_id)
    assert snapshot is not None
    token = personal.payment_token(selectors.consumer(snapshot.consumer_id), snapshot.payment_token)
    if token is None:  # erased while the order waited (a retry after a gateway outage): nothing to charge
        return Output({"order_id": verified.order_id, "decline_code": payments.CONSUMER_ERASED}, model=PaymentDeclined)
    result = payments.gateway().authorize(
        verified.order_id, snapshot.order_total, snapshot.currency, token, ctx.attempt
    )
    if not result.approved:
        return Output({"order_id": verified.order_id, "decline_code": result.decline_code}, model=PaymentDeclined)
    return Output(
        {"order_id": verified.order_id, "authorization_id": result.authorization_id, "amount": snapshot.order_total}
    )
