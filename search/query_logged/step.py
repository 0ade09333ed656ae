"""Record an answered query for analytics: the optional aux branch ``analytics`` of ``results_ranked``, whose
input is the ranked answer just committed. Its failures never touch the answer: the engine writes it in its own
transaction after the answer, and parks and retries it on its own (the side pipeline ``ranking+analytics``).

The simulator's tokens ``analytics_down`` and ``analytics_flaky_K`` make the analytics store unavailable always,
or for the first K attempts.
"""

from __future__ import annotations

import re

from pipelines import Output, RetryableError, StepContext
from search import selectors
from search.results_ranked.models import RankedResults

TOKEN = re.compile(r"^analytics_(?:flaky_(?P<times>[1-9])|down)$")


class AnalyticsUnavailable(RetryableError):
    code = "SEARCH_ANALYTICS_UNAVAILABLE"


def process(ctx: StepContext[RankedResults]) -> Output:
    ranked = ctx.input
    query = selectors.query(ranked.query_id)
    assert query is not None  # the query is the trace's first fact
    for token in query.tokens:
        match = TOKEN.match(token)
        if match and (match["times"] is None or ctx.attempt <= int(match["times"])):
            raise AnalyticsUnavailable(f"analytics store unavailable (simulated, attempt {ctx.attempt})")
    return Output(
        {
            "query_id": ranked.query_id,
            "term_count": len(query.terms),
            "partial": ranked.partial,
            "result_count": len(ranked.results),
        }
    )
