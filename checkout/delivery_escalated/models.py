"""A delivery ops must look at: its pickup or its dropoff stayed overdue."""

from typing import ClassVar

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class DeliveryEscalated(OrderCheckpoint):
    """Written by a delivery deadline's last round (``delivery-escalation``); unique per (order, stage)."""

    contract = contracts.DELIVERY_ESCALATED
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id", "stage")
    PICKUP, DROPOFF = "pickup", "dropoff"

    stage = models.CharField(max_length=20)
    dispatch_id = models.UUIDField()
    courier_id = models.CharField(max_length=64)
    escalated_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        constraints = [models.UniqueConstraint(fields=["order_id", "stage"], name="%(app_label)s_%(class)s_bk")]
