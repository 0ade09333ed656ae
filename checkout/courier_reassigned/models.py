"""The delivery moved to another courier: its pickup was overdue."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class CourierReassigned(OrderCheckpoint):
    """Written by the pickup deadline's first round (``courier-reassignment``): once per order."""

    contract = declared("CourierReassigned", 1)

    dispatch_id = numbered(2, models.UUIDField())
    from_courier_id = numbered(3, models.CharField(max_length=64))
    courier_id = numbered(4, models.CharField(max_length=64))
    reassigned_at = numbered(5, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "courier reassigned"
        verbose_name_plural = "couriers reassigned"
