"""The courier ops chose; dispatch uses it instead of its own choice."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OpsCourierChoice(OrderCheckpoint):
    """Recorded by the assign-courier remediation."""

    contract = contracts.OPS_COURIER_CHOICE

    decision_fields = ("courier_id",)  # who chose it is not part of the choice

    courier_id = models.CharField(max_length=64)
    chosen_by = models.CharField(max_length=150)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ops courier choice"
        verbose_name_plural = "ops courier choices"
