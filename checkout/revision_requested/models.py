"""The consumer asked to revise the order; a second request with the same key replays the stored answer."""

from django.db import models

from checkout import contracts
from checkout.base import RevisionCheckpoint


class RevisionRequested(RevisionCheckpoint):
    """The full new list of line items, priced from the menu, and the new total."""

    contract = contracts.REVISION_REQUESTED

    request_id = models.CharField(max_length=128)
    lines = models.JSONField()
    order_total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    command_hash = models.CharField(max_length=64)

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revision requested"
        verbose_name_plural = "revisions requested"
