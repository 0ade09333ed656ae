"""The courier picked the order up."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderPickedUp(OrderCheckpoint):
    """Automatic for an auto courier; a manual courier confirms it."""

    contract = contracts.ORDER_PICKED_UP

    dispatch_id = models.UUIDField()
    courier_id = models.CharField(max_length=64)
    picked_up_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order picked up"
        verbose_name_plural = "orders picked up"
