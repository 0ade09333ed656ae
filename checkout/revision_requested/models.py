"""The consumer asked to revise the order; a second request with the same key replays the stored answer."""

from django.db import models

from checkout.base import RevisionCheckpoint
from pipelines import declared, numbered


class RevisionRequested(RevisionCheckpoint):
    """The full new list of line items, priced from the menu, and the new total."""

    contract = declared("RevisionRequested", 1)

    request_id = numbered(3, models.CharField(max_length=128))
    lines = numbered(4, models.JSONField())
    order_total = numbered(5, models.DecimalField(max_digits=12, decimal_places=2))
    currency = numbered(6, models.CharField(max_length=3))
    command_hash = numbered(7, models.CharField(max_length=64))

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revision requested"
        verbose_name_plural = "revisions requested"
