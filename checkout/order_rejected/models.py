"""The order is rejected: the terminal fact of the order-rejection pipeline."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderRejected(OrderCheckpoint):
    """CONSUMER_VERIFICATION_FAILED, ORDER_MINIMUM_NOT_MET or PAYMENT_DECLINED."""

    contract = declared("OrderRejected", 1)

    reason = numbered(2, models.CharField(max_length=40))
    detail = numbered(3, models.CharField(max_length=300))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order rejected"
        verbose_name_plural = "orders rejected"
