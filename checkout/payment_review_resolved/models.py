"""Ops resolved a payment that required review."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class PaymentReviewResolved(OrderCheckpoint):
    """Approved (the payment is captured) or declined (the authorization is voided)."""

    contract = contracts.PAYMENT_REVIEW_RESOLVED

    decision_fields = ("approved",)

    approved = models.BooleanField()
    resolved_by = models.CharField(max_length=150)
    payment_id = models.CharField(max_length=100, null=True)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment review resolved"
        verbose_name_plural = "payment reviews resolved"
