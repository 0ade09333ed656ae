"""The order is cancelled: one per order, whichever path got there first."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderCancelled(OrderCheckpoint):
    """RESTAURANT_DECLINED, ACCEPTANCE_TIMED_OUT, CONSUMER_CANCELLED or OPS_CANCELLED."""

    contract = declared("OrderCancelled", 1)

    reason = numbered(2, models.CharField(max_length=40))
    cancelled_at = numbered(3, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order cancelled"
        verbose_name_plural = "orders cancelled"
