"""What the acceptance decision means: accepted, rejected or timed out."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderAcceptedByRestaurant(OrderCheckpoint):
    """Published as ``tpfgo.restaurant.order-accepted.v1``."""

    contract = declared("OrderAcceptedByRestaurant", 1)

    kitchen_ticket_id = numbered(2, models.UUIDField())
    accepted_at = numbered(3, models.DateTimeField())
    ready_by = numbered(4, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order accepted by restaurant"
        verbose_name_plural = "orders accepted by restaurant"


class TicketRejected(OrderCheckpoint):
    """The restaurant refused the ticket."""

    contract = declared("TicketRejected", 1)

    kitchen_ticket_id = numbered(2, models.UUIDField())
    reason = numbered(3, models.CharField(max_length=300))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket rejected"
        verbose_name_plural = "tickets rejected"


class AcceptanceTimedOut(OrderCheckpoint):
    """Nobody answered before the acceptance deadline."""

    contract = declared("AcceptanceTimedOut", 1)

    kitchen_ticket_id = numbered(2, models.UUIDField())
    deadline = numbered(3, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "acceptance timed out"
        verbose_name_plural = "acceptances timed out"
