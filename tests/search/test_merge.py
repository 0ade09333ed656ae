"""The merge of a query's shard answers does not depend on the order they arrive in: not its id (the engine's
merge id is made from the sorted parents), not its fields (the step reads the answers in shard order)."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest
from django.utils import timezone

from pipelines import StepContext, StepStatus, current_engine
from search.results_merged import step as results_merged
from search.results_merged.models import PartialResults
from search.shard_searched.models import ShardSearched
from tests.conftest import all_insert_only_counts
from tests.search.conftest import search

pytestmark = pytest.mark.django_db


def orders_of(answers: list[ShardSearched]) -> list[list[ShardSearched]]:
    """Arrival orders: as stored, reversed, and a few shuffles (seeded: the same every run)."""
    shuffled = []
    rng = random.Random(24)
    for _ in range(4):
        order = list(answers)
        rng.shuffle(order)
        shuffled.append(order)
    return [list(answers), list(reversed(answers)), *shuffled]


def test_the_merge_step_answers_the_same_for_every_arrival_order():
    search("red apple pie", tokens=["shard2_slow", "shard7_slow"])
    answers = list(ShardSearched.objects.order_by("shard"))
    assert len(answers) == 8

    def merged(order: list[ShardSearched]) -> tuple[type, dict]:
        ctx = StepContext("search", "results_merged", order, uuid.uuid4(), answers[0].trace_id, 1, None, timezone.now())
        output = results_merged.process(ctx)
        return output.model, dict(output.fields)

    results = [merged(order) for order in orders_of(answers)]
    assert results[0][0] is PartialResults
    assert results[0][1]["missing_shards"] == [2, 7]
    assert all(result == results[0] for result in results)


def test_the_engine_finds_the_stored_merge_for_every_arrival_order_and_inserts_nothing():
    search("red apple pie")
    answers = list(ShardSearched.objects.order_by("shard"))
    before = all_insert_only_counts()

    stored = set()
    for order in itertools.islice(orders_of(answers), 6):
        result = current_engine().run("search", order, step="results_merged").first
        assert result.status is StepStatus.REPLAYED
        stored.add(result.checkpoints[0].pk)

    assert len(stored) == 1
    assert all_insert_only_counts() == before
