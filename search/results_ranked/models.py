"""The ranked answer to a query: what the lane publishes and its transports answer."""

from django.db import models

from pipelines import declared, numbered
from search.base import QueryCheckpoint


class RankedResults(QueryCheckpoint):
    """The top hits in rank order; ``partial`` and ``missing_shards`` say whether a shard missed the deadline."""

    contract = declared("RankedResults", 1)

    partial = numbered(2, models.BooleanField())
    missing_shards = numbered(3, models.JSONField())
    total_hits = numbered(4, models.PositiveIntegerField())
    results = numbered(5, models.JSONField())

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "ranked results"
        verbose_name_plural = "ranked results"
