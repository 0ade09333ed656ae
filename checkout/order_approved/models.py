"""The approved order: the output of pipeline 02."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderApproved(OrderCheckpoint):
    """Published as ``tpfgo.consumer.order-approved.v1``."""

    contract = declared("OrderApproved", 1)

    request_id = numbered(2, models.CharField(max_length=128))
    consumer_id = numbered(3, models.CharField(max_length=64))
    restaurant_id = numbered(4, models.CharField(max_length=64))
    order_total = numbered(5, models.DecimalField(max_digits=12, decimal_places=2))
    currency = numbered(6, models.CharField(max_length=3))
    approved_at = numbered(7, models.DateTimeField())
    risk_band = numbered(8, models.CharField(max_length=10))
    authorization_id = numbered(9, models.CharField(max_length=100))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order approved"
        verbose_name_plural = "orders approved"
