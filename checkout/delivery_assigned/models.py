"""A courier is assigned: the output of pipeline 05."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class DeliveryAssigned(OrderCheckpoint):
    """``dispatch_id`` is the id couriers use for pickup and dropoff."""

    contract = declared("DeliveryAssigned", 1)

    dispatch_id = numbered(2, models.UUIDField(unique=True))
    courier_id = numbered(3, models.CharField(max_length=64, db_index=True))
    eta_minutes = numbered(4, models.PositiveIntegerField())
    assigned_at = numbered(5, models.DateTimeField())
    lineage_digest = numbered(6, models.TextField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "delivery assigned"
        verbose_name_plural = "deliveries assigned"
