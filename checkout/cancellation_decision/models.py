"""The cancellation's two outcomes: accepted, or refused with the reason."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class CancellationAccepted(OrderCheckpoint):
    """Published as ``tpfgo.order.cancellation-accepted.v1``."""

    contract = declared("CancellationAccepted", 1)

    accepted_at = numbered(2, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation accepted"
        verbose_name_plural = "cancellations accepted"


class CancellationRefused(OrderCheckpoint):
    """ALREADY_TERMINAL or ALREADY_PREPARING."""

    contract = declared("CancellationRefused", 1)
    ALREADY_TERMINAL, ALREADY_PREPARING = "ALREADY_TERMINAL", "ALREADY_PREPARING"

    reason = numbered(2, models.CharField(max_length=20))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation refused"
        verbose_name_plural = "cancellations refused"
