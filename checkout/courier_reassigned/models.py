"""The delivery moved to another courier: its pickup was overdue."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class CourierReassigned(OrderCheckpoint):
    """Written by the pickup deadline's first round (``courier-reassignment``): once per order."""

    contract = contracts.COURIER_REASSIGNED

    dispatch_id = models.UUIDField()
    from_courier_id = models.CharField(max_length=64)
    courier_id = models.CharField(max_length=64)
    reassigned_at = models.DateTimeField()
