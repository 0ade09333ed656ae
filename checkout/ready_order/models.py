"""The order ready for consumer validation: the output of pipeline 01."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class ReadyOrder(OrderCheckpoint):
    """Published as ``tpfgo.checkout.order-ready.v1``."""

    contract = declared("ReadyOrder", 1, created_at=7)

    request_id = numbered(2, models.CharField(max_length=128))
    consumer_id = numbered(3, models.CharField(max_length=64))
    restaurant_id = numbered(4, models.CharField(max_length=64))
    order_total = numbered(5, models.DecimalField(max_digits=12, decimal_places=2))
    currency = numbered(6, models.CharField(max_length=3))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ready order"
        verbose_name_plural = "ready orders"
