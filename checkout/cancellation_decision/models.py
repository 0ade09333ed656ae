"""The cancellation's two outcomes: accepted, or refused with the reason."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class CancellationAccepted(OrderCheckpoint):
    """Published as ``tpfgo.order.cancellation-accepted.v1``."""

    contract = contracts.CANCELLATION_ACCEPTED

    accepted_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation accepted"
        verbose_name_plural = "cancellations accepted"


class CancellationRefused(OrderCheckpoint):
    """ALREADY_TERMINAL or ALREADY_PREPARING."""

    contract = contracts.CANCELLATION_REFUSED
    ALREADY_TERMINAL, ALREADY_PREPARING = "ALREADY_TERMINAL", "ALREADY_PREPARING"

    reason = models.CharField(max_length=20)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation refused"
        verbose_name_plural = "cancellations refused"
