"""The query as received: its text, its terms, how many shards it fans out to and the deadline it is merged by."""

from django.db import models

from pipelines import declared, numbered
from search.base import QueryCheckpoint


class QueryReceived(QueryCheckpoint):
    """A query, stored before any shard is asked; ``tokens`` are the shard simulator's failure tokens."""

    contract = declared("QueryReceived", 1)

    request_key = numbered(2, models.CharField(max_length=200))
    text = numbered(3, models.CharField(max_length=200))
    terms = numbered(4, models.JSONField())
    shards = numbered(5, models.PositiveSmallIntegerField())
    deadline_ms = numbered(6, models.PositiveIntegerField())
    tokens = numbered(7, models.JSONField())
    command_hash = numbered(8, models.CharField(max_length=64))

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "query received"
        verbose_name_plural = "queries received"
