"""The order as revised: its new line items and total, the newest one is the order's current content."""

from django.db import models

from checkout.base import RevisionCheckpoint
from pipelines import declared, numbered


class RevisedOrder(RevisionCheckpoint):
    """The accepted revision's lines and total (the order's ``InitialOrder`` is never changed)."""

    contract = declared("RevisedOrder", 1)

    lines = numbered(3, models.JSONField())
    order_total = numbered(4, models.DecimalField(max_digits=12, decimal_places=2))
    currency = numbered(5, models.CharField(max_length=3))

    class Meta(RevisionCheckpoint.Meta):
        verbose_name = "revised order"
        verbose_name_plural = "revised orders"
