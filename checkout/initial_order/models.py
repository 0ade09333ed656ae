"""The order priced from the menu: a snapshot, so later menu edits never change it."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class InitialOrder(OrderCheckpoint):
    """Prices, currency and payment token as they were when the order was placed."""

    contract = declared("InitialOrder", 1)

    consumer_id = numbered(2, models.CharField(max_length=64))
    restaurant_id = numbered(3, models.CharField(max_length=64))
    currency = numbered(4, models.CharField(max_length=3))
    order_total = numbered(5, models.DecimalField(max_digits=12, decimal_places=2))
    lines = numbered(6, models.JSONField())
    payment_token = numbered(7, models.TextField())  # the request's (as long as the API takes) or the one on file

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "initial order"
        verbose_name_plural = "initial orders"
