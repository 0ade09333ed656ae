"""The kitchen ticket re-issued with the revised lines; the kitchen prepares the newest one."""

from django.db import models

from checkout.base import RevisionCheckpoint
from pipelines import declared, numbered


class RevisedTicket(RevisionCheckpoint):
    """The same kitchen ticket id with the revised lines; it closes the revision's round."""

    contract = declared("RevisedTicket", 1)

    kitchen_ticket_id = numbered(3, models.UUIDField())
    lines = numbered(4, models.JSONField())

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revised ticket"
        verbose_name_plural = "revised tickets"
