"""The order's terminal state: COMPLETED or FAILED_COMPENSATED."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class TerminalOrderState(OrderCheckpoint):
    """Written once per order, by 08 or by the payment-review resolution."""

    contract = declared("TerminalOrderState", 1)
    COMPLETED, FAILED_COMPENSATED = "COMPLETED", "FAILED_COMPENSATED"

    outcome = numbered(2, models.CharField(max_length=20))
    resolution_action = numbered(3, models.CharField(max_length=40))
    payment_outcome = numbered(4, models.CharField(max_length=20))
    payment_id = numbered(5, models.CharField(max_length=100, null=True))
    failure_code = numbered(6, models.CharField(max_length=60, null=True))
    resolved_at = numbered(7, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "terminal order state"
        verbose_name_plural = "terminal order states"
