"""The kitchen tasks merged back: the output of pipeline 04."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class OrderReadyForDispatch(OrderCheckpoint):
    """``lineage_digest`` is the sorted task ids joined by ``|``, whatever order they finished in."""

    contract = declared("OrderReadyForDispatch", 1)

    ready_at = numbered(2, models.DateTimeField())
    lineage_digest = numbered(3, models.TextField())
    task_count = numbered(4, models.PositiveIntegerField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order ready for dispatch"
        verbose_name_plural = "orders ready for dispatch"
