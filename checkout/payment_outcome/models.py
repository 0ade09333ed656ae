"""The capture's outcome: one table with a variant (captured, rejected, requires_review)."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class PaymentOutcome(OrderCheckpoint):
    """The variant is an immutable attribute of the fact, not a status."""

    contract = contracts.PAYMENT_OUTCOME
    CAPTURED, REJECTED, REQUIRES_REVIEW = "captured", "rejected", "requires_review"

    variant = models.CharField(max_length=20)
    payment_id = models.CharField(max_length=100, null=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    failure_code = models.CharField(max_length=60, null=True)
    failure_reason = models.CharField(max_length=300, null=True)
    review_reason = models.CharField(max_length=300, null=True)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment outcome"
        verbose_name_plural = "payment outcomes"
