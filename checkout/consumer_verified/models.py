"""Consumer validation's two outcomes: verified, or rejected (which ends pipeline 02)."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class ConsumerVerified(OrderCheckpoint):
    """The consumer is active and the order meets the restaurant's minimum."""

    contract = declared("ConsumerVerified", 1)

    consumer_id = numbered(2, models.CharField(max_length=64))
    order_total = numbered(3, models.DecimalField(max_digits=12, decimal_places=2))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "consumer verified"
        verbose_name_plural = "consumers verified"


class ConsumerRejected(OrderCheckpoint):
    """CONSUMER_VERIFICATION_FAILED or ORDER_MINIMUM_NOT_MET."""

    contract = declared("ConsumerRejected", 1)

    reason = numbered(2, models.CharField(max_length=40))
    detail = numbered(3, models.CharField(max_length=300))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "consumer rejected"
        verbose_name_plural = "consumers rejected"
