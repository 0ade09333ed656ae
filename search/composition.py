"""The search lane's pipelines and publications (docs/lanes.md): ``search`` (receive → fan out → merge),
``ranking`` (subscribes to both merge outcomes) and the optional ``query-analytics``."""

from __future__ import annotations

from pipelines import Composition, Pipeline, Publication, RetryPolicy, Step, Subscription
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

SEARCH = Pipeline(
    name="search",
    inputs=(),
    source_namespace="search-query",
    steps=(
        Step("query_received", query_received.process, QueryReceived),
        Step("shard_searched", shard_searched.process, ShardSearched, shape="split", retry=SEARCH_RETRY),
        Step(
            "results_merged",
            results_merged.process,
            ResultsMerged,
            shape="merge",
            outcomes={PartialResults: RESULTS_PARTIAL},
        ),
    ),
    output=RESULTS_MERGED,
)
RANKING = Pipeline(
    name="ranking",
    inputs=(ResultsMerged, PartialResults),
    steps=(Step("results_ranked", results_ranked.process, RankedResults),),
    output=RESULTS_RANKED,
)
QUERY_ANALYTICS = Pipeline(
    name="query-analytics",
    inputs=(RankedResults,),
    steps=(Step("query_logged", query_logged.process, QueryLogged),),
    output=QUERY_LOGGED,
)

COMPOSITION = Composition(
    pipelines=(SEARCH, RANKING, QUERY_ANALYTICS),
    subscriptions=(
        Subscription(RESULTS_MERGED.name, "ranking"),
        Subscription(RESULTS_PARTIAL.name, "ranking"),
        Subscription(RESULTS_RANKED.name, "query-analytics"),
    ),
    terminal=frozenset({QUERY_LOGGED.name}),
)
