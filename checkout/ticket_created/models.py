"""The kitchen ticket: a manual restaurant's chain waits here for accept or reject."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class TicketCreated(OrderCheckpoint):
    """The ticket, its lines and the acceptance deadline."""

    contract = declared("TicketCreated", 1)

    kitchen_ticket_id = numbered(2, models.UUIDField(unique=True))
    restaurant_id = numbered(3, models.CharField(max_length=64))
    lines = numbered(4, models.JSONField())
    acceptance_mode = numbered(5, models.CharField(max_length=10))
    accept_by = numbered(6, models.DateTimeField(db_index=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket created"
        verbose_name_plural = "tickets created"
