"""The kitchen ticket re-issued with the revised lines; the kitchen prepares the newest one."""

from django.db import models

from checkout import contracts
from checkout.base import RevisionCheckpoint


class RevisedTicket(RevisionCheckpoint):
    """The same kitchen ticket id with the revised lines; it closes the revision's round."""

    contract = contracts.REVISED_TICKET

    kitchen_ticket_id = models.UUIDField()
    lines = models.JSONField()

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revised ticket"
        verbose_name_plural = "revised tickets"
