"""A delivery ops must look at: its pickup or its dropoff stayed overdue."""

from typing import ClassVar

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class DeliveryEscalated(OrderCheckpoint):
    """Written by a delivery deadline's last round (``delivery-escalation``); unique per (order, stage)."""

    contract = declared("DeliveryEscalated", 1)
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id", "stage", "branch")
    PICKUP, DROPOFF = "pickup", "dropoff"

    stage = numbered(2, models.CharField(max_length=20))
    dispatch_id = numbered(3, models.UUIDField())
    courier_id = numbered(4, models.CharField(max_length=64))
    escalated_at = numbered(5, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "delivery escalated"
        verbose_name_plural = "deliveries escalated"
        constraints = [
            models.UniqueConstraint(fields=["order_id", "stage", "branch"], name="%(app_label)s_%(class)s_bk")
        ]
