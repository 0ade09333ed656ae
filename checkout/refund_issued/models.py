"""A captured payment was refunded."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class RefundIssued(OrderCheckpoint):
    """Written instead of a void when the payment was already captured."""

    contract = contracts.REFUND_ISSUED

    payment_id = models.CharField(max_length=100)
    refund_id = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "refund issued"
        verbose_name_plural = "refunds issued"
