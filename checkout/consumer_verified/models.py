"""Consumer validation's two outcomes: verified, or rejected (which ends pipeline 02)."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class ConsumerVerified(OrderCheckpoint):
    """The consumer is active and the order meets the restaurant's minimum."""

    contract = contracts.CONSUMER_VERIFIED

    consumer_id = models.CharField(max_length=64)
    order_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "consumer verified"
        verbose_name_plural = "consumers verified"


class ConsumerRejected(OrderCheckpoint):
    """CONSUMER_VERIFICATION_FAILED or ORDER_MINIMUM_NOT_MET."""

    contract = contracts.CONSUMER_REJECTED

    reason = models.CharField(max_length=40)
    detail = models.CharField(max_length=300)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "consumer rejected"
        verbose_name_plural = "consumers rejected"
