"""The search lane's pipelines, publications and branch policy (docs/lanes.md): ``search`` (receive → fan out →
merge, complete or partial) and ``ranking`` (subscribes to both merge outcomes), whose step writes the query
analytics as an optional aux branch: its failure never holds the answer back."""

from __future__ import annotations

from pipelines import Composition, Pipeline, Publication, RetryPolicy, Step, Subscription, aux, outcome, primary
from pipelines.models import Checkpoint
from search.query_logged import step as query_logged
from search.query_logged.models import QueryLogged
from search.query_received import step as query_received
from search.query_received.models import QueryReceived
from search.results_merged import step as results_merged
from search.results_merged.models import PartialResults, ResultsMerged
from search.results_ranked import step as results_ranked
from search.results_ranked.models import RankedResults
from search.shard_searched import step as shard_searched
from search.shard_searched.models import ShardSearched

# The lane's business key as its contracts spell it: every publication is keyed by the query.
QUERY_KEY = ("queryId",)


def published(name: str, model: type[Checkpoint]) -> Publication:
    return Publication(name, model, QUERY_KEY)


RESULTS_MERGED = published("tpfgo.search.results-merged.v1", ResultsMerged)
RESULTS_PARTIAL = published("tpfgo.search.results-partial.v1", PartialResults)
RESULTS_RANKED = published("tpfgo.search.results-ranked.v1", RankedResults)
QUERY_LOGGED = published("tpfgo.search.query-logged.v1", QueryLogged)

# A shard that is down is usually back within seconds: a few quick retries before the query parks for ops.
SEARCH_RETRY = RetryPolicy(max_attempts=4, base_delay=1.0, multiplier=2.0, cap=10.0, jitter=0.1)
# Analytics can wait: retried for about an hour, on its own, while the answer is long published.
ANALYTICS_RETRY = RetryPolicy(max_attempts=8, base_delay=30.0, multiplier=2.0, cap=900.0, jitter=0.1)

SEARCH = Pipeline(
    name="search",
    inputs=(),
    source_namespace="search-query",
    steps=(
        Step("query_received", query_received.process, QueryReceived, branches=(primary("query", QueryReceived),)),
        Step(
            "shard_searched",
            shard_searched.process,
            ShardSearched,
            shape="split",
            retry=SEARCH_RETRY,
            branches=(primary("shards", ShardSearched),),
        ),
        Step(
            "results_merged",
            results_merged.process,
            ResultsMerged,
            shape="merge",
            # A shard past the deadline: the partial outcome instead of the complete merge, ranked all the same.
            branches=(primary("merged", ResultsMerged), outcome("partial", PartialResults, RESULTS_PARTIAL)),
        ),
    ),
    output=RESULTS_MERGED,
)
RANKING = Pipeline(
    name="ranking",
    inputs=(ResultsMerged, PartialResults),
    steps=(
        Step(
            "results_ranked",
            results_ranked.process,
            RankedResults,
            branches=(
                primary("ranked", RankedResults),
                # Written after the answer committed, as the side pipeline "ranking+analytics": parked and
                # retried on its own when analytics is down, never failing or holding the answer.
                aux(
                    "analytics",
                    QueryLogged,
                    query_logged.process,
                    optional=True,
                    publication=QUERY_LOGGED,
                    retry=ANALYTICS_RETRY,
                ),
            ),
        ),
    ),
    output=RESULTS_RANKED,
)

COMPOSITION = Composition(
    pipelines=(SEARCH, RANKING),
    subscriptions=(
        Subscription(RESULTS_MERGED.name, "ranking"),
        Subscription(RESULTS_PARTIAL.name, "ranking"),
    ),
    # The answer and the analytics record end a query's trace: nothing in the lane subscribes to them (another
    # service may follow them: docs/subscriptions.md).
    terminal=frozenset({RESULTS_RANKED.name, QUERY_LOGGED.name}),
)
