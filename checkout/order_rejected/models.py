"""The order is rejected: the terminal fact of the order-rejection pipeline."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderRejected(OrderCheckpoint):
    """CONSUMER_VERIFICATION_FAILED, ORDER_MINIMUM_NOT_MET or PAYMENT_DECLINED."""

    contract = contracts.ORDER_REJECTED

    reason = models.CharField(max_length=40)
    detail = models.CharField(max_length=300)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order rejected"
        verbose_name_plural = "orders rejected"
