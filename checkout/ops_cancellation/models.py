"""Ops cancelled the order (the ops-cancel remediation)."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OpsCancellation(OrderCheckpoint):
    """Who cancelled and why."""

    contract = contracts.OPS_CANCELLATION

    cancelled_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=500)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ops cancellation"
        verbose_name_plural = "ops cancellations"
