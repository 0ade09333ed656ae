"""The order ready for consumer validation: the output of pipeline 01."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class ReadyOrder(OrderCheckpoint):
    """Published as ``tpfgo.checkout.order-ready.v1``."""

    contract = contracts.READY_ORDER

    request_id = models.CharField(max_length=128)
    consumer_id = models.CharField(max_length=64)
    restaurant_id = models.CharField(max_length=64)
    order_total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ready order"
        verbose_name_plural = "ready orders"
