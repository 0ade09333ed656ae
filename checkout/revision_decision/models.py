"""The revision's two outcomes: accepted, or refused with a stable reason."""

from django.db import models

from checkout.base import RevisionCheckpoint
from pipelines import declared, numbered


class RevisionAccepted(RevisionCheckpoint):
    """The revision held the ticket's decision slot and its total was re-authorized."""

    contract = declared("RevisionAccepted", 1)

    accepted_at = numbered(3, models.DateTimeField())

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revision accepted"
        verbose_name_plural = "revisions accepted"


class RevisionRefused(RevisionCheckpoint):
    """TOO_LATE, ORDER_CANCELLED, NOT_APPROVED, REVISION_PENDING, BELOW_MINIMUM or PAYMENT_DECLINED."""

    contract = declared("RevisionRefused", 1)
    TOO_LATE, ORDER_CANCELLED, NOT_APPROVED = "TOO_LATE", "ORDER_CANCELLED", "NOT_APPROVED"
    REVISION_PENDING, BELOW_MINIMUM, PAYMENT_DECLINED = "REVISION_PENDING", "BELOW_MINIMUM", "PAYMENT_DECLINED"

    reason = numbered(3, models.CharField(max_length=20))

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revision refused"
        verbose_name_plural = "revisions refused"
