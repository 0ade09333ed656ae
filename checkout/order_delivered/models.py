"""The order was delivered: the output of pipeline 06."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderDelivered(OrderCheckpoint):
    """The amount to capture travels with the delivery."""

    contract = declared("OrderDelivered", 1)

    dispatch_id = numbered(2, models.UUIDField())
    courier_id = models.CharField(max_length=64, db_index=True)
    delivered_at = numbered(3, models.DateTimeField())
    amount = numbered(4, models.DecimalField(max_digits=12, decimal_places=2))
    lineage_digest = numbered(5, models.TextField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order delivered"
        verbose_name_plural = "orders delivered"
