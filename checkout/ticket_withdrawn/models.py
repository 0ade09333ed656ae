"""The kitchen ticket of a cancelled order is withdrawn."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class TicketWithdrawn(OrderCheckpoint):
    """Only written when a ticket exists."""

    contract = declared("TicketWithdrawn", 1)

    kitchen_ticket_id = numbered(2, models.UUIDField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket withdrawn"
        verbose_name_plural = "tickets withdrawn"
