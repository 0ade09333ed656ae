"""The order as requested: the client's command, recorded before anything else happens."""

from __future__ import annotations

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered
from pipelines.models import CheckpointChild


class OrderRequest(OrderCheckpoint):
    """The first fact of every order. Its ``request_id`` is the client's idempotency key."""

    contract = declared("OrderRequest", 1)

    request_id = numbered(2, models.CharField(max_length=128))
    consumer_id = numbered(3, models.CharField(max_length=64))
    restaurant_id = numbered(4, models.CharField(max_length=64))
    delivery_address = numbered(5, models.JSONField())
    delivery_time = numbered(6, models.DateTimeField(null=True))
    payment_token = numbered(7, models.TextField(null=True))  # as long as the API takes (TPFGO_API_MAX_TEXT_LENGTH)
    command_hash = numbered(8, models.CharField(max_length=64))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "order request"
        verbose_name_plural = "order requests"
        # Constraints rather than unique=True: no PostgreSQL varchar_pattern_ops twin for a key never searched
        # with LIKE.
        constraints = [
            *OrderCheckpoint.Meta.constraints,
            models.UniqueConstraint(fields=["request_id"], name="order_request_unique_request_id"),
        ]


class LineItem(CheckpointChild):
    """One requested line, owned by its ``OrderRequest``."""

    # No index of its own: the unique (order_request, line_number) serves the look-up of an order's lines.
    order_request = models.ForeignKey(OrderRequest, on_delete=models.PROTECT, related_name="line_items", db_index=False)
    line_number = models.PositiveIntegerField()
    menu_item_id = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()

    class Meta:
        verbose_name = "line item"
        verbose_name_plural = "line items"
        constraints = [models.UniqueConstraint(fields=["order_request", "line_number"], name="line_item_unique")]
        ordering = ["line_number"]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.quantity} × {self.menu_item_id}"
