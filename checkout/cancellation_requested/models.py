"""The consumer asked to cancel; a second request replays the stored decision."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class CancellationRequested(OrderCheckpoint):
    """The request and its optional note."""

    contract = declared("CancellationRequested", 1)

    note = numbered(2, models.CharField(max_length=500, null=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation requested"
        verbose_name_plural = "cancellations requested"
