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


class TicketRejected(OrderCheckpoint):
    """The restaurant refused the ticket."""

    contract = contracts.TICKET_REJECTED

    kitchen_ticket_id = models.UUIDField()
    reason = models.CharField(max_length=300)


class AcceptanceTimedOut(OrderCheckpoint):
    """Nobody answered before the acceptance deadline."""

    contract = contracts.ACCEPTANCE_TIMED_OUT

    kitchen_ticket_id = models.UUIDField()
    deadline = models.DateTimeField()
