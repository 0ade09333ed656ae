"""The merge of a query's shard answers: one outcome per query, complete or partial."""

from django.db import models

from pipelines import declared, numbered
from search.base import QueryCheckpoint


class ResultsMerged(QueryCheckpoint):
    """Every shard answered within the deadline: their hits, merged."""

    contract = declared("ResultsMerged", 1)

    shards_answered = numbered(2, models.PositiveSmallIntegerField())
    hits = numbered(3, models.JSONField())

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "results merged"
        verbose_name_plural = "results merged"


class PartialResults(QueryCheckpoint):
    """A decision outcome: at least one shard missed the deadline; the hits of those that answered, and which
    shards are missing."""

    contract = declared("PartialResults", 1)

    shards_answered = numbered(2, models.PositiveSmallIntegerField())
    hits = numbered(3, models.JSONField())
    missing_shards = numbered(4, models.JSONField())

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "partial results"
        verbose_name_plural = "partial results"
