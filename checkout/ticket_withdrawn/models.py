"""The kitchen ticket of a cancelled order is withdrawn."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class TicketWithdrawn(OrderCheckpoint):
    """Only written when a ticket exists."""

    contract = contracts.TICKET_WITHDRAWN

    kitchen_ticket_id = models.UUIDField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket withdrawn"
        verbose_name_plural = "tickets withdrawn"
