"""The courier ops chose; dispatch uses it instead of its own choice."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OpsCourierChoice(OrderCheckpoint):
    """Recorded by the assign-courier remediation."""

    contract = declared("OpsCourierChoice", 1)

    decision_fields = ("courier_id",)  # who chose it is not part of the choice

    courier_id = numbered(2, models.CharField(max_length=64))
    chosen_by = numbered(3, models.CharField(max_length=150))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "ops courier choice"
        verbose_name_plural = "ops courier choices"
