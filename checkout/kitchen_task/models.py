"""Kitchen tasks: the split of an order into one task per line item, plus packing."""

from typing import ClassVar

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class KitchenTask(OrderCheckpoint):
    """One task; unique per (order, task name)."""

    contract = contracts.KITCHEN_TASK
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id", "task_name", "branch")

    task_name = models.CharField(max_length=100)
    menu_item_id = models.CharField(max_length=64, null=True)
    quantity = models.PositiveIntegerField()

    class Meta(OrderCheckpoint.Meta):
        # The business key's columns, order id first: it also serves the look-up of an order's tasks.
        constraints = [
            models.UniqueConstraint(fields=["order_id", "task_name", "branch"], name="%(app_label)s_%(class)s_bk")
        ]
