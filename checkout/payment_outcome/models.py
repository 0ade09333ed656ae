"""The capture's outcome: one table with a variant (captured, rejected, requires_review)."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class PaymentOutcome(OrderCheckpoint):
    """The variant is an immutable attribute of the fact, not a status."""

    contract = declared("PaymentOutcome", 1)
    CAPTURED, REJECTED, REQUIRES_REVIEW = "captured", "rejected", "requires_review"

    variant = numbered(2, models.CharField(max_length=20))
    payment_id = numbered(3, models.CharField(max_length=100, null=True))
    amount = numbered(4, models.DecimalField(max_digits=12, decimal_places=2))
    failure_code = numbered(5, models.CharField(max_length=60, null=True))
    failure_reason = numbered(6, models.CharField(max_length=300, null=True))
    review_reason = numbered(7, models.CharField(max_length=300, null=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment outcome"
        verbose_name_plural = "payment outcomes"
