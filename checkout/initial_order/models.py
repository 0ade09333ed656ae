"""The order priced from the menu: a snapshot, so later menu edits never change it."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class InitialOrder(OrderCheckpoint):
    """Prices, currency and payment token as they were when the order was placed."""

    contract = contracts.INITIAL_ORDER

    consumer_id = models.CharField(max_length=64)
    restaurant_id = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    order_total = models.DecimalField(max_digits=12, decimal_places=2)
    lines = models.JSONField()
    payment_token = models.CharField(max_length=64)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "initial order"
        verbose_name_plural = "initial orders"
