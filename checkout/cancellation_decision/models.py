"""The cancellation's two outcomes: accepted, or refused with the reason."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class CancellationAccepted(OrderCheckpoint):
    """Published as ``tpfgo.order.cancellation-accepted.v1``."""

    contract = contracts.CANCELLATION_ACCEPTED

    accepted_at = models.DateTimeField()


class CancellationRefused(OrderCheckpoint):
    """ALREADY_TERMINAL, ALREADY_PREPARING, or REVISION_PENDING (a revision held the ticket: ask again)."""

    contract = contracts.CANCELLATION_REFUSED
    ALREADY_TERMINAL, ALREADY_PREPARING = "ALREADY_TERMINAL", "ALREADY_PREPARING"
    REVISION_PENDING = "REVISION_PENDING"

    reason = models.CharField(max_length=20)
