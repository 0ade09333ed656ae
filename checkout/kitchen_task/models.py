"""Kitchen tasks: the split of an order into one task per line item, plus packing."""

from typing import ClassVar

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class KitchenTask(OrderCheckpoint):
    """One task; unique per (order, task name)."""

    contract = declared("KitchenTask", 1)
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id", "task_name", "branch")

    task_name = numbered(2, models.CharField(max_length=100))
    menu_item_id = numbered(3, models.CharField(max_length=64, null=True))
    quantity = numbered(4, models.PositiveIntegerField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "kitchen task"
        verbose_name_plural = "kitchen tasks"
        # The business key's columns, order id first: it also serves the look-up of an order's tasks.
        constraints = [
            models.UniqueConstraint(fields=["order_id", "task_name", "branch"], name="%(app_label)s_%(class)s_bk")
        ]
