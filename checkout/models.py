"""Reference data: ordinary editable rows (consumers, restaurants and menus, couriers), never checkpoints.

An order snapshots what it needs from here in pipeline 01, so later edits never change an order.
"""

from __future__ import annotations

import os

from django.db import models

PERSONAL_KEY_BYTES = 64  # AES-SIV with two 256-bit halves (checkout.personal)


def new_personal_key() -> bytes:
    """A fresh consumer key: every consumer gets their own when created."""
    return os.urandom(PERSONAL_KEY_BYTES)


class Consumer(models.Model):
    """Someone who orders; an inactive consumer is rejected in consumer validation.

    ``personal_key`` seals the consumer's personal data wherever the orders carry it (``checkout.personal``);
    erasure sets it to NULL, and with it every sealed copy becomes ``[erased]``."""

    tpfgo_kind = "mutable"

    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    payment_token = models.CharField(max_length=64, blank=True)
    personal_key = models.BinaryField(null=True, default=new_personal_key, editable=False)

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Restaurant(models.Model):
    """A restaurant and how it accepts tickets (automatically or by hand)."""

    tpfgo_kind = "mutable"
    AUTO, MANUAL = "auto", "manual"

    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    currency = models.CharField(max_length=3, default="USD")
    order_minimum = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    acceptance_mode = models.CharField(max_length=10, choices=[(AUTO, AUTO), (MANUAL, MANUAL)], default=AUTO)

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class MenuItem(models.Model):
    """One item on a restaurant's menu, with its current price."""

    tpfgo_kind = "mutable"

    restaurant = models.ForeignKey(Restaurant, on_delete=models.CASCADE, related_name="menu")
    item_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["restaurant", "item_id"], name="menu_item_unique")]
        ordering = ["restaurant_id", "item_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.item_id})"


class Courier(models.Model):
    """A courier: available for dispatch or not, and whether pickup/dropoff are confirmed by hand."""

    tpfgo_kind = "mutable"
    AUTO, MANUAL = "auto", "manual"

    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    available = models.BooleanField(default=True)
    completion_mode = models.CharField(max_length=10, choices=[(AUTO, AUTO), (MANUAL, MANUAL)], default=AUTO)

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class CourierLoad(models.Model):
    """Active deliveries per courier: derived, kept by database triggers (``checkout.derived``), never written
    by the application; ``derived.rebuild()`` recomputes it from the checkpoint tables."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written only by its triggers, as their owner (pipelines.store.db_roles)

    courier_id = models.CharField(primary_key=True, max_length=64)
    active = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.courier_id}: {self.active} active"


class OpenTicket(models.Model):
    """A kitchen ticket with no acceptance decision yet: derived, kept by database triggers (``checkout.derived``)."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written only by its triggers, as their owner (pipelines.store.db_roles)

    order_id = models.UUIDField(primary_key=True)
    accept_by = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"ticket of {self.order_id}, due {self.accept_by}"
