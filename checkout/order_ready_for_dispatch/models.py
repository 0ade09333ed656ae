"""The kitchen tasks merged back: the output of pipeline 04."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class OrderReadyForDispatch(OrderCheckpoint):
    """``lineage_digest`` is the sorted task ids joined by ``|``, whatever order they finished in."""

    contract = contracts.ORDER_READY_FOR_DISPATCH

    ready_at = models.DateTimeField()
    lineage_digest = models.TextField()
    task_count = models.PositiveIntegerField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order ready for dispatch"
        verbose_name_plural = "orders ready for dispatch"
