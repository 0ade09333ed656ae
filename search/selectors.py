"""Reads of a query's facts, by query id (each through the unique index on ``query_id``)."""

from __future__ import annotations

import uuid

from search.query_logged.models import QueryLogged
from search.query_received.models import QueryReceived
from search.results_merged.models import PartialResults, ResultsMerged
from search.results_ranked.models import RankedResults
from search.shard_searched.models import ShardSearched


def query(query_id: uuid.UUID) -> QueryReceived | None:
    return QueryReceived.objects.filter(query_id=query_id).first()


def shard_answers(query_id: uuid.UUID) -> list[ShardSearched]:
    return list(ShardSearched.objects.filter(query_id=query_id).order_by("shard"))


def merged(query_id: uuid.UUID) -> ResultsMerged | PartialResults | None:
    return (
        ResultsMerged.objects.filter(query_id=query_id).first()
        or PartialResults.objects.filter(query_id=query_id).first()
    )


def ranked(query_id: uuid.UUID) -> RankedResults | None:
    return RankedResults.objects.filter(query_id=query_id).first()


def logged(query_id: uuid.UUID) -> QueryLogged | None:
    return QueryLogged.objects.filter(query_id=query_id).first()
