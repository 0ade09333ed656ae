"""The approved order: the output of pipeline 02."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderApproved(OrderCheckpoint):
    """Published as ``tpfgo.consumer.order-approved.v1``."""

    contract = contracts.ORDER_APPROVED

    request_id = models.CharField(max_length=128)
    consumer_id = models.CharField(max_length=64)
    restaurant_id = models.CharField(max_length=64)
    order_total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    approved_at = models.DateTimeField()
    risk_band = models.CharField(max_length=10)
    authorization_id = models.CharField(max_length=100)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order approved"
        verbose_name_plural = "orders approved"
