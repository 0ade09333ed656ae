"""Query analytics is an optional aux branch of the ranking step: when it fails, the answer is published all the
same, the failure is in the error sink and parked on the branch's own side pipeline, and its retry writes the record
without touching the answer."""

from __future__ import annotations

import pytest

from pipelines import composition
from pipelines.models import ErrorSinkEntry, ParkedItem
from pipelines.tasks import retry_parked
from search import ops_actions, selectors
from tests.conftest import all_insert_only_counts
from tests.search.conftest import lane_counts, search

pytestmark = pytest.mark.django_db


def test_the_analytics_branch_is_declared_optional_and_aux_beside_the_primary_answer():
    step = composition().pipeline("ranking").step("results_ranked")

    assert [(b.name, b.role, b.need) for b in step.policy] == [
        ("ranked", "primary", "required"),
        ("analytics", "aux", "optional"),
    ]
    assert composition().pipeline("ranking+analytics").steps[0].name == "results_ranked+analytics"


def test_analytics_down_does_not_hold_the_answer_back():
    view = search("red apple pie", tokens=["analytics_down"]).view

    assert view["status"] == "RANKED" and len(view["results"]) == 10
    assert lane_counts() == {
        "QueryReceived": 1,
        "ShardSearched": 8,
        "ResultsMerged": 1,
        "PartialResults": 0,
        "RankedResults": 1,
        "QueryLogged": 0,
    }
    [parked] = ParkedItem.objects.all()
    assert (parked.pipeline, parked.step, parked.item_type) == (
        "ranking+analytics",
        "results_ranked+analytics",
        "RankedResults",
    )
    [entry] = ErrorSinkEntry.objects.all()
    assert (entry.error_code, entry.retryable) == ("SEARCH_ANALYTICS_UNAVAILABLE", True)


def test_a_flaky_analytics_store_is_retried_on_its_own_and_the_answer_is_untouched():
    view = search("red apple pie", tokens=["analytics_flaky_1"]).view
    ranked = selectors.ranked(view["queryId"])
    assert ranked is not None and selectors.logged(ranked.query_id) is None
    [parked] = ParkedItem.objects.all()
    before = all_insert_only_counts()

    assert retry_parked(str(parked.pk), 2) == "inserted"

    logged = selectors.logged(ranked.query_id)
    assert logged is not None
    assert (logged.term_count, logged.partial, logged.result_count) == (3, False, 10)
    assert lane_counts()["QueryLogged"] == 1
    assert lane_counts()["RankedResults"] == 1
    after = all_insert_only_counts()
    assert after["query_logged.QueryLogged"] == before["query_logged.QueryLogged"] + 1
    assert after["results_ranked.RankedResults"] == before["results_ranked.RankedResults"]
    assert selectors.ranked(ranked.query_id) == ranked


def test_a_dead_lettered_analytics_record_is_redriven_alone_and_its_preview_says_so(settings):
    # Four attempts instead of ANALYTICS_RETRY's eight, so the simulator's longest flaky token outlasts them.
    settings.TPFGO_RETRY_POLICIES = {"ranking+analytics.results_ranked+analytics": {"max_attempts": 4}}
    query_id = search("red apple pie", tokens=["analytics_flaky_4"]).view["queryId"]
    [parked] = ParkedItem.objects.all()
    for attempt in (2, 3, 4):
        assert retry_parked(str(parked.pk), attempt) == "failed"
    before = all_insert_only_counts()

    preview = ops_actions.preview("redrive", query_id)

    assert preview["allowed"] is True
    [rerun] = [insert for insert in preview["inserts"] if insert["type"] == "QueryLogged"]
    assert rerun["summary"].endswith(
        "the analytics record only: the query's answer was published already and is not touched"
    )
    result = ops_actions.execute(
        "redrive", query_id, actor="erin", reason="analytics back", expected_seq=preview["expectedSeq"]
    )
    assert (result["status"], result["stalled"]) == ("RANKED", False)
    after = all_insert_only_counts()
    assert after["query_logged.QueryLogged"] == before["query_logged.QueryLogged"] + 1
    unchanged = ("results_ranked.RankedResults", "results_merged.ResultsMerged", "shard_searched.ShardSearched")
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}
