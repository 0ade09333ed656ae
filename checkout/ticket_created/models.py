"""The kitchen ticket: a manual restaurant's chain waits here for accept or reject."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class TicketCreated(OrderCheckpoint):
    """The ticket, its lines and the acceptance deadline."""

    contract = contracts.TICKET_CREATED

    kitchen_ticket_id = models.UUIDField(unique=True)
    restaurant_id = models.CharField(max_length=64)
    lines = models.JSONField()
    acceptance_mode = models.CharField(max_length=10)
    accept_by = models.DateTimeField(db_index=True)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket created"
        verbose_name_plural = "tickets created"
