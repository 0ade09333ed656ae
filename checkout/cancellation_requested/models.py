"""The consumer asked to cancel; a second request replays the stored decision."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class CancellationRequested(OrderCheckpoint):
    """The request and its optional note."""

    contract = contracts.CANCELLATION_REQUESTED

    note = models.CharField(max_length=500, null=True)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation requested"
        verbose_name_plural = "cancellations requested"
