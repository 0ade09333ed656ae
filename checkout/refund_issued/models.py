"""A captured payment was refunded."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class RefundIssued(OrderCheckpoint):
    """Written instead of a void when the payment was already captured."""

    contract = declared("RefundIssued", 1)

    payment_id = numbered(2, models.CharField(max_length=100))
    refund_id = numbered(3, models.CharField(max_length=100))
    amount = numbered(4, models.DecimalField(max_digits=12, decimal_places=2))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "refund issued"
        verbose_name_plural = "refunds issued"
