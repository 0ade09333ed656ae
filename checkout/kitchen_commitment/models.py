"""Preparation and cancellation race for the order's one kitchen commitment."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class KitchenCommitment(OrderCheckpoint):
    """Claimed by KITCHEN (preparation starts) or CANCELLATION (it never will)."""

    contract = declared("KitchenCommitment", 1)
    KITCHEN, CANCELLATION = "KITCHEN", "CANCELLATION"

    claimed_by = numbered(2, models.CharField(max_length=12))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "kitchen commitment"
        verbose_name_plural = "kitchen commitments"
