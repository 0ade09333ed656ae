"""The re-authorization's two outcomes: the revised total is authorized, or declined (the revision is refused)."""

from django.db import models

from checkout.base import RevisionCheckpoint
from pipelines import declared, numbered


class PaymentReauthorized(RevisionCheckpoint):
    """The gateway authorized the revised total; capture later takes this authorization."""

    contract = declared("PaymentReauthorized", 1)

    authorization_id = numbered(3, models.CharField(max_length=100))
    amount = numbered(4, models.DecimalField(max_digits=12, decimal_places=2))

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "payment reauthorized"
        verbose_name_plural = "payments reauthorized"


class ReauthorizationDeclined(RevisionCheckpoint):
    """The gateway declined the revised total; the order keeps its authorization and its lines."""

    contract = declared("ReauthorizationDeclined", 1)

    decline_code = numbered(3, models.CharField(max_length=60))

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "reauthorization declined"
        verbose_name_plural = "reauthorizations declined"
