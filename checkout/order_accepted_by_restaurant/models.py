"""What the acceptance decision means: accepted, rejected or timed out."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderAcceptedByRestaurant(OrderCheckpoint):
    """Published as ``tpfgo.restaurant.order-accepted.v1``."""

    contract = contracts.ORDER_ACCEPTED

    kitchen_ticket_id = models.UUIDField()
    accepted_at = models.DateTimeField()
    ready_by = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order accepted by restaurant"
        verbose_name_plural = "orders accepted by restaurant"


class TicketRejected(OrderCheckpoint):
    """The restaurant refused the ticket."""

    contract = contracts.TICKET_REJECTED

    kitchen_ticket_id = models.UUIDField()
    reason = models.CharField(max_length=300)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ticket rejected"
        verbose_name_plural = "tickets rejected"


class AcceptanceTimedOut(OrderCheckpoint):
    """Nobody answered before the acceptance deadline."""

    contract = contracts.ACCEPTANCE_TIMED_OUT

    kitchen_ticket_id = models.UUIDField()
    deadline = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "acceptance timed out"
        verbose_name_plural = "acceptances timed out"
