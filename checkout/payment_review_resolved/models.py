"""Ops resolved a payment that required review."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class PaymentReviewResolved(OrderCheckpoint):
    """Approved (the payment is captured) or declined (the authorization is voided)."""

    contract = declared("PaymentReviewResolved", 1)

    decision_fields = ("approved",)

    approved = numbered(2, models.BooleanField())
    resolved_by = numbered(3, models.CharField(max_length=150))
    payment_id = numbered(4, models.CharField(max_length=100, null=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment review resolved"
        verbose_name_plural = "payment reviews resolved"
