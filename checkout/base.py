"""The base of every checkout checkpoint: an indexed order id, one fact of each kind per order."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from pipelines.models import Checkpoint


class OrderCheckpoint(Checkpoint):
    business_key_fields: ClassVar[tuple[str, ...]] = ("order_id",)

    order_id = models.UUIDField(db_index=True, editable=False)

    class Meta(Checkpoint.Meta):
        abstract = True
