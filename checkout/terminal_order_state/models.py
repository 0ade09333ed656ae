"""The order's terminal state: COMPLETED or FAILED_COMPENSATED."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class TerminalOrderState(OrderCheckpoint):
    """Written once per order, by 08 or by the payment-review resolution."""

    contract = contracts.TERMINAL_ORDER_STATE
    COMPLETED, FAILED_COMPENSATED = "COMPLETED", "FAILED_COMPENSATED"

    outcome = models.CharField(max_length=20)
    resolution_action = models.CharField(max_length=40)
    payment_outcome = models.CharField(max_length=20)
    payment_id = models.CharField(max_length=100, null=True)
    failure_code = models.CharField(max_length=60, null=True)
    resolved_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "terminal order state"
        verbose_name_plural = "terminal order states"
