"""The order was delivered: the output of pipeline 06."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderDelivered(OrderCheckpoint):
    """The amount to capture travels with the delivery."""

    contract = contracts.ORDER_DELIVERED

    dispatch_id = models.UUIDField()
    courier_id = models.CharField(max_length=64, db_index=True)
    delivered_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    lineage_digest = models.TextField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order delivered"
        verbose_name_plural = "orders delivered"
