"""The runner: ids, lineage, the log, splits and merges, replays, lost-to-winner, awaits, handoffs."""

import random

import pytest
from django.db import connection

from pipelines.contracts import ids
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, LineageLink
from pipelines.store.db_roles import purge_allowed
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import (
    DocumentIndexed,
    DocumentPublished,
    DocumentReceived,
    DocumentRefused,
    DocumentTag,
    TokenIndexed,
)

pytestmark = pytest.mark.django_db


def test_a_document_runs_through_both_pipelines_with_lineage_and_log(lane_engine):
    execution = lane_engine.start("ingest", {"text": "gamma alpha beta", "tags": ["x", "y"]}, "doc-1")

    doc_id = ids.deterministic_id("document", "doc-1")
    received = DocumentReceived.objects.get()
    assert received.pk == ids.child_id(doc_id, "receive")
    assert received.trace_id == doc_id and received.idempotency_key == "doc-1"
    assert DocumentTag.objects.filter(document=received).count() == 2
    assert TokenIndexed.objects.count() == 3
    assert DocumentIndexed.objects.get().tokens == 3
    assert DocumentPublished.objects.count() == 1
    assert [r.status for r in execution.results] == ["inserted"] * 4
    # 1 + 3 + 1 + 1 checkpoints, each logged once, in order.
    log = list(CheckpointLog.objects.order_by("seq").values_list("checkpoint_type", "pipeline", "publication"))
    assert log == [
        ("DocumentReceived", "ingest", ""),
        ("TokenIndexed", "ingest", ""),
        ("TokenIndexed", "ingest", ""),
        ("TokenIndexed", "ingest", ""),
        ("DocumentIndexed", "ingest", "lane.indexed.v1"),
        ("DocumentPublished", "publish", "lane.published.v1"),
    ]
    # 3 split links + 3 merge links + 1 publish link.
    assert LineageLink.objects.count() == 7
    assert LineageLink.objects.filter(parent_id=received.pk).count() == 3


def test_ids_are_stable_and_a_replay_inserts_zero_rows(lane_engine):
    lane_engine.start("ingest", {"text": "one two"}, "doc-1")
    before = all_insert_only_counts()
    first_ids = set(CheckpointLog.objects.values_list("checkpoint_id", flat=True))

    replay = lane_engine.start("ingest", {"text": "one two"}, "doc-1")

    assert all_insert_only_counts() == before
    assert {r.status for r in replay.results} == {"replayed"}
    assert {cp.pk for r in replay.results for cp in r.checkpoints} == first_ids


def test_a_start_told_new_still_answers_a_stored_key_as_a_replay(lane_engine):
    # new=True skips the first look-up (the caller just looked); a duplicate that got there in between
    # meets the unique insert and is answered as a replay, as a concurrent one would be.
    lane_engine.start("ingest", {"text": "one two"}, "doc-1")
    before = all_insert_only_counts()

    replay = lane_engine.start("ingest", {"text": "one two"}, "doc-1", new=True)

    assert all_insert_only_counts() == before
    assert {r.status for r in replay.results} == {"replayed"}
    assert replay.first.checkpoints[0].pk == DocumentReceived.objects.get().pk


def test_a_merge_gives_one_id_and_n_links_for_every_arrival_order(lane_engine):
    lane_engine.start("ingest", {"text": "d c b a"}, "doc-1")
    tokens = list(TokenIndexed.objects.all())
    forward = sorted(tokens, key=lambda t: t.position)
    shuffled = forward[:]
    random.Random(7).shuffle(shuffled)
    seen = set()
    for order in (forward, list(reversed(forward)), shuffled):
        with purge_allowed("test: drop the merge to run it again in another order"):
            for model in (DocumentPublished, DocumentIndexed):
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {model._meta.db_table}")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {LineageLink._meta.db_table} WHERE child_type IN (%s, %s)",
                    ["DocumentIndexed", "DocumentPublished"],
                )
                cursor.execute(
                    f"DELETE FROM {CheckpointLog._meta.db_table} WHERE checkpoint_type IN (%s, %s)",
                    ["DocumentIndexed", "DocumentPublished"],
                )
        execution = lane_engine.run("ingest", order, step="index")
        assert execution.first.status == "inserted"
        merged = DocumentIndexed.objects.get()
        seen.add((merged.pk, merged.digest))
        assert LineageLink.objects.filter(child_id=merged.pk).count() == 4
        assert list(
            LineageLink.objects.filter(child_id=merged.pk).order_by("ordinal").values_list("parent_id", flat=True)
        ) == sorted((t.pk for t in tokens), key=str)
    assert len(seen) == 1


def test_a_decision_outcome_ends_the_pipeline_with_its_publication(lane_engine):
    execution = lane_engine.start("ingest", {"text": "   "}, "doc-empty")
    assert DocumentRefused.objects.get().reason == "EMPTY"
    assert DocumentReceived.objects.count() == TokenIndexed.objects.count() == 0
    assert CheckpointLog.objects.get().publication == "lane.refused.v1"
    assert [r.step for r in execution.results] == ["receive"]


def test_a_second_checkpoint_of_a_kind_is_lost_to_the_winner(lane_engine):
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    winner = DocumentPublished.objects.get()
    before = all_insert_only_counts()
    received = DocumentReceived.objects.get()

    execution = Engine(lane.COMPOSITION).run("manual-publish", received)

    assert execution.first.status == "lost"
    assert execution.first.lost_to == winner.pk
    assert all_insert_only_counts() == before


def test_an_awaiting_step_stops_until_its_event_resumes_it(lane_engine):
    lane.FAILURES["publish"] = "await"
    execution = lane_engine.start("ingest", {"text": "a"}, "doc-1")
    assert execution.results[-1].status == "awaiting"
    assert DocumentPublished.objects.count() == 0

    resumed = lane_engine.run("publish", DocumentIndexed.objects.get(), event={"by": "ops"})
    assert resumed.first.status == "inserted"
    assert DocumentPublished.objects.count() == 1


def test_republishing_a_checkpoint_forwards_it_idempotently(lane_engine):
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    before = all_insert_only_counts()
    again = lane_engine.publish("lane.indexed.v1", DocumentIndexed.objects.get())
    assert [r.status for r in again.results] == ["replayed"]
    assert all_insert_only_counts() == before
    assert DocumentPublished.objects.count() == 1
