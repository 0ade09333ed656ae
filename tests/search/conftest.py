"""Search-lane fixtures: a helper that searches through the service, and row counts of the lane's tables."""

from __future__ import annotations

import itertools
from typing import Any

from django.apps import apps

from search import services

_keys = itertools.count(1)

LANE_MODELS = (
    "query_received.QueryReceived",
    "shard_searched.ShardSearched",
    "results_merged.ResultsMerged",
    "results_merged.PartialResults",
    "results_ranked.RankedResults",
    "query_logged.QueryLogged",
)


def search(text: str = "red apple pie", tokens: list[str] | None = None, key: str | None = None) -> Any:
    body: dict[str, Any] = {"text": text}
    if tokens is not None:
        body["tokens"] = tokens
    return services.search(body, key or f"q-{next(_keys)}")


def lane_counts() -> dict[str, int]:
    """Rows per table of the lane, zeros included, for exact comparisons."""
    return {label.split(".")[1]: apps.get_model(label).objects.count() for label in LANE_MODELS}
