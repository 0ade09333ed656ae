"""One shard's answer to a query: the split of a query into one search per shard."""

from typing import ClassVar

from django.db import models

from pipelines import declared, numbered
from search.base import QueryCheckpoint


class ShardSearched(QueryCheckpoint):
    """A shard's answer, unique per (query, shard); ``in_time`` is False when it came after the query's deadline
    (its hits are then not kept: they did not arrive in time to be merged)."""

    contract = declared("ShardSearched", 1)
    business_key_fields: ClassVar[tuple[str, ...]] = ("query_id", "shard")

    shard = numbered(2, models.PositiveSmallIntegerField())
    latency_ms = numbered(3, models.PositiveIntegerField())
    in_time = numbered(4, models.BooleanField())
    hits = numbered(5, models.JSONField())

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "shard searched"
        verbose_name_plural = "shards searched"
        constraints = [models.UniqueConstraint(fields=["query_id", "shard"], name="%(app_label)s_%(class)s_bk")]
