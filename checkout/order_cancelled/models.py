"""The order is cancelled: one per order, whichever path got there first."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderCancelled(OrderCheckpoint):
    """RESTAURANT_DECLINED, ACCEPTANCE_TIMED_OUT, CONSUMER_CANCELLED or OPS_CANCELLED."""

    contract = contracts.ORDER_CANCELLED

    reason = models.CharField(max_length=40)
    cancelled_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order cancelled"
        verbose_name_plural = "orders cancelled"
