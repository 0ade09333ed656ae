"""Merge a query's shard answers (fan-in, N→1): ``ResultsMerged`` when every shard answered in time, else the
``PartialResults`` outcome naming the shards that missed the deadline.

The answers are read in shard order and the hits sorted by (score, document), so the merge is the same whatever
order the answers arrive in; the engine's merge id is made from the sorted parent ids for the same reason.
"""

from __future__ import annotations

from typing import Any

from pipelines import Output, StepContext
from search.results_merged.models import PartialResults
from search.shard_searched.models import ShardSearched


def process(ctx: StepContext[list[ShardSearched]]) -> Output:
    answers = sorted(ctx.input, key=lambda answer: answer.shard)
    hits = merged_hits(answers)
    answered = [a.shard for a in answers if a.in_time]
    missing = [a.shard for a in answers if not a.in_time]
    fields: dict[str, Any] = {"query_id": answers[0].query_id, "shards_answered": len(answered), "hits": hits}
    if missing:
        return Output({**fields, "missing_shards": missing}, model=PartialResults)
    return Output(fields)


def merged_hits(answers: list[ShardSearched]) -> list[dict[str, Any]]:
    """The in-time answers' hits, each with its shard, best first (ties by document id)."""
    hits = [{**hit, "shard": answer.shard} for answer in answers if answer.in_time for hit in answer.hits]
    return sorted(hits, key=lambda hit: (-hit["score"], hit["docId"]))
