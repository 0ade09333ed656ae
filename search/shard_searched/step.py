"""Fan the query out: one search per shard, each shard's answer one row (a split 1→N).

A split's rows go in together, in one transaction, so a shard that is unavailable fails the step and the engine
retries the fan-out (``SEARCH_RETRY``); asking the other shards again is harmless, they only read. A shard that
answers after the query's deadline is no failure: its row says ``in_time=False`` and the merge decides.
"""

from __future__ import annotations

from pipelines import Output, Split, StepContext
from search import shards
from search.query_received.models import QueryReceived


def process(ctx: StepContext[QueryReceived]) -> Split:
    query = ctx.input
    backend = shards.backend()
    answers = []
    for shard in range(1, query.shards + 1):  # numbered from 1: a business key field is never blank
        answer = backend.search(shard, query.terms, query.tokens, ctx.attempt)
        in_time = answer.latency_ms <= query.deadline_ms
        fields = {
            "query_id": query.query_id,
            "shard": shard,
            "latency_ms": answer.latency_ms,
            "in_time": in_time,
            "hits": answer.hits if in_time else [],
        }
        answers.append(Output(fields))
    return Split(answers)
