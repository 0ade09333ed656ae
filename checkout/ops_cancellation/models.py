"""Ops cancelled the order (the ops-cancel remediation)."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OpsCancellation(OrderCheckpoint):
    """Who cancelled and why."""

    contract = declared("OpsCancellation", 1)

    cancelled_by = numbered(2, models.CharField(max_length=150))
    reason = numbered(3, models.CharField(max_length=500))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ops cancellation"
        verbose_name_plural = "ops cancellations"
