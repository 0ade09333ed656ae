"""The search lane end to end through its service and the engine: fan-out to 8 shards, a transient shard failure
retried, a shard past the deadline making a partial answer, replays that insert nothing."""

from __future__ import annotations

import re

import pytest

from pipelines.models import CheckpointLog, ErrorSinkEntry, LineageLink, ParkedItem
from pipelines.tasks import retry_parked
from search.shard_searched.models import ShardSearched
from tests.conftest import all_insert_only_counts
from tests.search.conftest import lane_counts, search

pytestmark = pytest.mark.django_db

ANSWERED = {
    "QueryReceived": 1,
    "ShardSearched": 8,
    "ResultsMerged": 1,
    "PartialResults": 0,
    "RankedResults": 1,
    "QueryLogged": 1,
}


def test_a_query_fans_out_to_eight_shards_and_is_merged_ranked_and_logged():
    answered = search("red apple pie")

    assert answered.created
    view = answered.view
    assert view["status"] == "RANKED"
    assert view["terms"] == ["apple", "pie", "red"]
    assert [s["shard"] for s in view["shards"]] == list(range(1, 9))
    assert all(s["inTime"] and s["hits"] == 6 for s in view["shards"])
    assert view["totalHits"] == 8 * 3 * 2
    assert [r["rank"] for r in view["results"]] == list(range(1, 11))
    scores = [r["score"] for r in view["results"]]
    assert scores == sorted(scores, reverse=True)
    assert lane_counts() == ANSWERED
    links = LineageLink.objects.filter(trace_id=view["queryId"])
    # received → 8 shards, 8 shards → merged, merged → ranked, ranked → logged
    assert links.count() == 8 + 8 + 1 + 1


def test_a_shard_failing_once_parks_the_fan_out_and_its_retry_answers():
    answered = search("red apple pie", tokens=["shard3_flaky_1"])

    assert answered.view["status"] == "STALLED"
    assert answered.view["shards"] == []
    assert lane_counts() == {**ANSWERED, "ShardSearched": 0, "ResultsMerged": 0, "RankedResults": 0, "QueryLogged": 0}
    [parked] = ParkedItem.objects.all()
    assert (parked.pipeline, parked.step) == ("search", "shard_searched")
    [entry] = ErrorSinkEntry.objects.all()
    assert entry.error_code == "SEARCH_SHARD_UNAVAILABLE"
    assert entry.message == "shard 3 unavailable (simulated, attempt 1)"

    assert retry_parked(str(parked.pk), 2) == "inserted"

    assert lane_counts() == ANSWERED
    again = search("red apple pie", tokens=["shard3_flaky_1"], key=answered_key(answered))
    assert again.view["status"] == "RANKED"
    assert ShardSearched.objects.filter(shard=3, in_time=True).count() == 1


def answered_key(answered) -> str:  # type: ignore[no-untyped-def]
    from search.selectors import query

    stored = query(answered.view["queryId"])
    assert stored is not None
    return stored.request_key


def test_a_shard_past_the_deadline_makes_an_explicit_partial_answer_not_an_error():
    view = search("red apple pie", tokens=["shard5_slow"]).view

    assert view["status"] == "PARTIAL"
    assert view["missingShards"] == [5]
    assert [s["shard"] for s in view["shards"] if not s["inTime"]] == [5]
    assert view["totalHits"] == 7 * 3 * 2
    assert all(r["shard"] != 5 for r in view["results"])
    assert lane_counts() == {**ANSWERED, "ResultsMerged": 0, "PartialResults": 1}
    assert ParkedItem.objects.count() == 0
    assert ErrorSinkEntry.objects.count() == 0


def test_a_replay_of_the_same_search_inserts_nothing_and_answers_the_same():
    first = search("red apple pie", tokens=["shard5_slow"], key="replayed")
    before = all_insert_only_counts()

    again = search("red apple pie", tokens=["shard5_slow"], key="replayed")

    assert not again.created
    assert again.view == first.view
    assert all_insert_only_counts() == before


def test_the_same_key_with_another_search_is_a_conflict_that_stores_nothing():
    from pipelines import AlreadyExists

    search("red apple pie", key="taken")
    before = all_insert_only_counts()

    with pytest.raises(AlreadyExists) as refused:
        search("green pear", key="taken")

    assert refused.value.code == "ALREADY_EXISTS"
    assert all_insert_only_counts() == before


def test_the_log_holds_every_fact_of_the_query_once():
    view = search("red apple pie").view

    types = list(CheckpointLog.objects.filter(trace_id=view["queryId"]).values_list("checkpoint_type", flat=True))
    assert sorted(types) == sorted(
        ["QueryReceived", *["ShardSearched"] * 8, "ResultsMerged", "RankedResults", "QueryLogged"]
    )


def test_the_first_ten_distinct_words_are_the_terms():
    words = ["Red", "red", *(f"w{n:02d}" for n in range(12))]

    view = search(" ".join(words)).view

    assert view["terms"] == sorted(["red", *(f"w{n:02d}" for n in range(9))])
    assert view["shards"][0]["hits"] == 10 * 2


def test_the_simulator_tokens_the_request_accepts_are_the_ones_the_simulators_know():
    from search import commands, shards
    from search.query_logged.step import TOKEN as ANALYTICS

    accepted = re.compile(commands.TOKEN_PATTERN)
    for token in ("shard3_flaky_2", "shard8_down", "shard5_slow", "analytics_down", "analytics_flaky_1"):
        assert accepted.fullmatch(token) and (shards.TOKEN.fullmatch(token) or ANALYTICS.fullmatch(token)), token
    for token in ("shard3_boom", "shard_slow", "analytics_slow", "shard3_flaky_0", "tok_ok"):
        assert not accepted.fullmatch(token) and not shards.TOKEN.fullmatch(token) and not ANALYTICS.fullmatch(token)
    # The request also holds a token to the shards this site fans out to (TPFGO_SEARCH_SHARDS: 8), 1 without a 0.
    for token in ("shard0_down", "shard9_down", "shard12_slow", "shard03_down"):
        assert not accepted.fullmatch(token), token
    assert commands.NOT_A_TOKEN == "is not a simulator token of shards 1 to 8"


def test_tokens_for_one_shard_add_up_flaky_then_slow():
    answered = search("red apple pie", tokens=["shard3_slow", "shard3_flaky_1"], key="add-up")
    assert answered.view["status"] == "STALLED"
    [parked] = ParkedItem.objects.all()

    assert retry_parked(str(parked.pk), 2) == "inserted"

    view = search("red apple pie", tokens=["shard3_slow", "shard3_flaky_1"], key="add-up").view
    assert (view["status"], view["missingShards"]) == ("PARTIAL", [3])


def test_down_outweighs_every_other_token_for_its_shard():
    search("red apple pie", tokens=["shard4_flaky_1", "shard4_down", "shard4_slow"], key="down-wins")
    [parked] = ParkedItem.objects.all()

    assert [retry_parked(str(parked.pk), attempt) for attempt in (2, 3, 4)] == ["failed"] * 3
    assert lane_counts()["ShardSearched"] == 0


def test_a_text_without_a_word_is_searched_for_nothing():
    view = search("?!").view

    assert (view["status"], view["terms"], view["results"], view["totalHits"]) == ("RANKED", [], [], 0)
    assert [s["hits"] for s in view["shards"]] == [0] * 8


def test_the_issue_scenario_in_one_query_a_flaky_shard_retried_and_a_slow_one_missing():
    answered = search("red apple pie", tokens=["shard3_flaky_1", "shard6_slow"], key="scenario")
    assert answered.view["status"] == "STALLED"
    [parked] = ParkedItem.objects.all()

    assert retry_parked(str(parked.pk), 2) == "inserted"

    view = search("red apple pie", tokens=["shard3_flaky_1", "shard6_slow"], key="scenario").view
    assert (view["status"], view["missingShards"]) == ("PARTIAL", [6])
    assert [s["shard"] for s in view["shards"] if s["inTime"]] == [1, 2, 3, 4, 5, 7, 8]
    assert lane_counts() == {**ANSWERED, "ResultsMerged": 0, "PartialResults": 1}
    assert ErrorSinkEntry.objects.count() == 1
