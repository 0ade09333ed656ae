"""The order's one acceptance decision: accept, reject, timeout and cancel race for this unique insert."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class AcceptanceDecision(OrderCheckpoint):
    """Who decided: ACCEPTED, REJECTED, TIMED_OUT or CANCELLED. Unique per order: the arbiter."""

    contract = contracts.ACCEPTANCE_DECISION
    ACCEPTED, REJECTED, TIMED_OUT, CANCELLED = "ACCEPTED", "REJECTED", "TIMED_OUT", "CANCELLED"

    decision_fields = ("decided_by", "reason")  # an accept replays an accept; a reject with another reason lost

    decided_by = models.CharField(max_length=10)
    ready_by = models.DateTimeField(null=True)
    reason = models.CharField(max_length=300, blank=True)
