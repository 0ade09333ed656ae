"""The authorized order is approved, with its risk band."""

from __future__ import annotations

from decimal import Decimal

from checkout import selectors
from checkout.payment_authorized.models import PaymentAuthorized
from pipelines import Output, StepContext

HIGH_RISK_ABOVE = Decimal("100.00")


def process(ctx: StepContext[PaymentAuthorized]) -> Output:
    authorized = ctx.input
    ready = selectors.ready_order(authorized.order_id)
    assert ready is not None
    return Output(
        {
            "order_id": ready.order_id,
            "request_id": ready.request_id,
            "consumer_id": ready.consumer_id,
            "restaurant_id": ready.restaurant_id,
            "order_total": ready.order_total,
            "currency": ready.currency,
            "approved_at": ctx.now,
            "risk_band": "HIGH" if ready.order_total > HIGH_RISK_ABOVE else "LOW",
            "authorization_id": authorized.authorization_id,
        }
    )
