"""A courier is assigned: the output of pipeline 05."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class DeliveryAssigned(OrderCheckpoint):
    """``dispatch_id`` is the id couriers use for pickup and dropoff."""

    contract = contracts.DELIVERY_ASSIGNED

    dispatch_id = models.UUIDField(unique=True)
    courier_id = models.CharField(max_length=64, db_index=True)
    eta_minutes = models.PositiveIntegerField()
    assigned_at = models.DateTimeField()
    lineage_digest = models.TextField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "delivery assigned"
        verbose_name_plural = "deliveries assigned"
