"""Rank a query's merged hits: a document's score is the sum over the terms it matched; the top
``TPFGO_SEARCH_TOP_K`` are kept, in rank order (ties by document id)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from pipelines import Output, StepContext
from search.results_merged.models import PartialResults, ResultsMerged


def process(ctx: StepContext[ResultsMerged | PartialResults]) -> Output:
    merged = ctx.input
    partial = isinstance(merged, PartialResults)
    ranked = rank(merged.hits, settings.TPFGO_SEARCH_TOP_K)
    return Output(
        {
            "query_id": merged.query_id,
            "partial": partial,
            "missing_shards": merged.missing_shards if isinstance(merged, PartialResults) else [],
            "total_hits": len(merged.hits),
            "results": ranked,
        }
    )


def rank(hits: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {}
    for hit in hits:
        doc = documents.setdefault(
            hit["docId"], {"docId": hit["docId"], "shard": hit["shard"], "score": 0, "terms": []}
        )
        doc["score"] += hit["score"]
        doc["terms"] = sorted({*doc["terms"], hit["term"]})
    best = sorted(documents.values(), key=lambda doc: (-doc["score"], doc["docId"]))[:top]
    return [{"rank": n, **doc} for n, doc in enumerate(best, start=1)]
