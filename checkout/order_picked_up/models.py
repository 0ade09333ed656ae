"""The courier picked the order up."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderPickedUp(OrderCheckpoint):
    """Automatic for an auto courier; a manual courier confirms it."""

    contract = declared("OrderPickedUp", 1)

    dispatch_id = numbered(2, models.UUIDField())
    courier_id = numbered(3, models.CharField(max_length=64))
    picked_up_at = numbered(4, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order picked up"
        verbose_name_plural = "orders picked up"
