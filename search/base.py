"""The base of every search checkpoint: one fact of each kind per query, found by its query id."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from pipelines import numbered
from pipelines.models import Checkpoint


class QueryCheckpoint(Checkpoint):
    """A fact about one query; the query id (deterministic from the client's idempotency key) is its business key
    and, through the unique constraint, the index every look-up by query uses."""

    business_key_fields: ClassVar[tuple[str, ...]] = ("query_id",)

    query_id = numbered(1, models.UUIDField(editable=False))

    class Meta(Checkpoint.Meta):
        abstract = True
        constraints = [models.UniqueConstraint(fields=["query_id"], name="%(app_label)s_%(class)s_bk")]
