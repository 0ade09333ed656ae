"""The consumer asked to cancel; a second request replays the stored decision."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class CancellationRequested(OrderCheckpoint):
    """The request and its optional note."""

    contract = declared("CancellationRequested", 1)

    # Sealed (checkout.personal): a token longer than the 500 characters the API takes for a note.
    note = numbered(2, models.TextField(null=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "cancellation requested"
        verbose_name_plural = "cancellations requested"
