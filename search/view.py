"""A query's answer in its wire shape, built once for every transport (REST answers it, gRPC maps it)."""

from __future__ import annotations

import uuid
from typing import Any

from search import selectors

RANKED = "RANKED"  # every shard answered in time
PARTIAL = "PARTIAL"  # ranked, but a shard missed the deadline
STALLED = "STALLED"  # not ranked: a step failed and is retried, or parked for ops (the console shows it)


def answer(query_id: uuid.UUID) -> dict[str, Any]:
    query = selectors.query(query_id)
    assert query is not None
    ranked = selectors.ranked(query_id)
    shards = [
        {"shard": a.shard, "inTime": a.in_time, "latencyMs": a.latency_ms, "hits": len(a.hits)}
        for a in selectors.shard_answers(query_id)
    ]
    if ranked is None:
        # The engine runs a query to its answer in the request; no answer means a step failed on the way.
        status, results, missing, total = STALLED, [], [], 0
    else:
        status = PARTIAL if ranked.partial else RANKED
        results, missing, total = ranked.results, ranked.missing_shards, ranked.total_hits
    return {
        "queryId": str(query_id),
        "text": query.text,
        "terms": query.terms,
        "status": status,
        "missingShards": missing,
        "totalHits": total,
        "results": results,
        "shards": shards,
    }
