"""Preparation and cancellation race for the order's one kitchen commitment."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class KitchenCommitment(OrderCheckpoint):
    """Claimed by KITCHEN (preparation starts) or CANCELLATION (it never will)."""

    contract = contracts.KITCHEN_COMMITMENT
    KITCHEN, CANCELLATION = "KITCHEN", "CANCELLATION"

    claimed_by = models.CharField(max_length=12)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "kitchen commitment"
        verbose_name_plural = "kitchen commitments"
