"""The ticket's decision slot: accept, reject, timeout, cancel and revise race for this unique insert.

A revision claims the slot for one round (``REVISED``) and re-issues the ticket; the next claim takes the next
round. The business key is (order, round): every claimant computes the round from the stored ``REVISED`` claims,
so claimants that saw the same history meet on the same unique row and exactly one wins.
"""

from typing import ClassVar

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class AcceptanceDecision(OrderCheckpoint):
    """Who decided: ACCEPTED, REJECTED, TIMED_OUT, CANCELLED (final), or REVISED (a revision holds the round)."""

    contract = declared("AcceptanceDecision", 1)
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id", "round", "branch")
    ACCEPTED, REJECTED, TIMED_OUT, CANCELLED = "ACCEPTED", "REJECTED", "TIMED_OUT", "CANCELLED"
    REVISED = "REVISED"

    decision_fields = ("decided_by", "reason")  # an accept replays an accept; a reject with another reason lost

    decided_by = numbered(2, models.CharField(max_length=10))
    ready_by = numbered(3, models.DateTimeField(null=True))
    reason = numbered(4, models.CharField(max_length=300, blank=True))
    round = numbered(5, models.PositiveIntegerField(default=1))
    revision_id = numbered(6, models.UUIDField(null=True))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "acceptance decision"
        verbose_name_plural = "acceptance decisions"
        constraints = [
            models.UniqueConstraint(fields=["order_id", "round", "branch"], name="acceptance_decision_round_bk")
        ]
