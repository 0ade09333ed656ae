"""Query analytics: one record per answered query, written off the answer's path."""

from django.db import models

from pipelines import declared, numbered
from search.base import QueryCheckpoint


class QueryLogged(QueryCheckpoint):
    """What analytics keeps of an answered query: how many terms, whether it was partial, how many results."""

    contract = declared("QueryLogged", 1)

    term_count = numbered(2, models.PositiveSmallIntegerField())
    partial = numbered(3, models.BooleanField())
    result_count = numbered(4, models.PositiveSmallIntegerField())

    class Meta(QueryCheckpoint.Meta):
        verbose_name = "query logged"
        verbose_name_plural = "queries logged"
