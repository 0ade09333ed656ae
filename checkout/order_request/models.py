"""The order as requested: the client's command, recorded before anything else happens."""

from __future__ import annotations

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint
from pipelines.models import CheckpointChild


class OrderRequest(OrderCheckpoint):
    """The first fact of every order. Its ``request_id`` is the client's idempotency key."""

    contract = contracts.ORDER_REQUEST

    request_id = models.CharField(max_length=128, unique=True)
    consumer_id = models.CharField(max_length=64)
    restaurant_id = models.CharField(max_length=64)
    delivery_address = models.JSONField()
    delivery_time = models.DateTimeField(null=True)
    payment_token = models.CharField(max_length=64, null=True)
    command_hash = models.CharField(max_length=64)


class LineItem(CheckpointChild):
    """One requested line, owned by its ``OrderRequest``."""

    order_request = models.ForeignKey(OrderRequest, on_delete=models.PROTECT, related_name="line_items")
    line_number = models.PositiveIntegerField()
    menu_item_id = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order_request", "line_number"], name="line_item_unique")]
        ordering = ["line_number"]
