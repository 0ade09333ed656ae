"""A failing step: predecessors stay, nothing of its own, one sink entry and one stderr line, then parking."""

import datetime
import json

import pytest
from django.utils import timezone
from structlog.testing import capture_logs

from pipelines.engine.runner import Engine
from pipelines.models import (
    CheckpointLog,
    ErrorSinkEntry,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
)
from pipelines.recovery import actions, retries
from pipelines.store import clock
from tests.conftest import all_insert_only_counts, claimed_attempt, node_clock, run_still_at
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived, TokenIndexed

pytestmark = pytest.mark.django_db


def stderr_entries(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if '"error_sink.entry"' in line]


def test_a_failing_step_keeps_its_predecessors_inserts_nothing_and_records_one_entry(lane_engine, capfd):
    lane.FAILURES["index"] = "bug"
    execution = lane_engine.start("ingest", {"text": "a b c"}, "doc-1")

    assert [r.status for r in execution.results] == ["inserted", "inserted", "failed"]
    assert DocumentReceived.objects.count() == 1
    assert TokenIndexed.objects.count() == 3
    assert DocumentIndexed.objects.count() == 0
    assert DocumentPublished.objects.count() == 0
    assert CheckpointLog.objects.count() == 4
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step, entry.attempt) == ("ingest", "index", 1)
    assert entry.error_class == "builtins.RuntimeError" and entry.message == "index exploded"
    assert entry.retryable and "Traceback" in entry.traceback
    assert len(entry.payload["input"]) == 3
    lines = stderr_entries(capfd.readouterr().err)
    assert len(lines) == 1
    assert lines[0]["event"] == "error_sink.entry" and lines[0]["id"] == str(entry.id)
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.step, len(parked.merge_ids)) == ("ingest", "index", 3)
    assert RetryScheduled.objects.get().attempt == 2


def test_a_retry_resumes_from_the_last_checkpoint_and_completes(lane_engine, lane_composition):
    lane.FAILURES["index"] = 1  # transient on attempt 1 only
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    parked = ParkedItem.objects.get()

    assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"

    assert DocumentIndexed.objects.count() == 1 and DocumentPublished.objects.count() == 1
    assert DocumentReceived.objects.count() == 1 and TokenIndexed.objects.count() == 2
    assert ParkingOutcome.objects.get().outcome == "resolved"
    assert ErrorSinkEntry.objects.count() == 1


def test_two_workers_claiming_one_attempt_yield_one_run(lane_engine, lane_composition):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    first = retries.run_attempt(parked.pk, 2, worker="w1")
    second = retries.run_attempt(parked.pk, 2, worker="w2")
    assert (first, second) == ("inserted", "closed")
    assert RetryClaim.objects.count() == 1


def test_without_a_lock_a_claim_goes_on_only_for_the_task_that_made_it_and_only_when_that_task_runs_again(
    lane_engine, lane_composition, without_claim_locks
):
    parked = claimed_attempt(lane_engine, "task-1@host-a")  # cut off

    assert retries.run_attempt(parked.pk, 2, worker="task-2@host-a", again=True) == "claimed-elsewhere"  # not its own
    assert retries.run_attempt(parked.pk, 2, worker="task-10@host-a", again=True) == "claimed-elsewhere"  # a prefix
    assert retries.run_attempt(parked.pk, 2, worker="task-1@host-a") == "claimed-elsewhere"  # a first run: duplicate
    assert retries.run_attempt(parked.pk, 2, worker="host-a", again=True) == "claimed-elsewhere"  # names no task
    assert DocumentIndexed.objects.count() == 0
    # Run again on another host (a process's death republishes the task to any worker): still its own claim.
    assert retries.run_attempt(parked.pk, 2, worker="task-1@host-b", again=True) == "inserted"
    assert DocumentIndexed.objects.count() == 1 and DocumentPublished.objects.count() == 1
    assert RetryClaim.objects.count() == 1 and ParkingOutcome.objects.get().attempts == 2


def test_a_task_run_again_does_not_take_its_claim_back_once_the_sweeper_scheduled_the_next_attempt(
    lane_engine, lane_composition
):
    parked = claimed_attempt(lane_engine, "task-1@host-a")
    now = timezone.now()
    RetryScheduled.objects.create(parked=parked, attempt=3, due_at=now, created_at=now)  # the claim timed out

    assert retries.run_attempt(parked.pk, 2, worker="task-1@host-a", again=True) == "claimed-elsewhere"
    assert DocumentIndexed.objects.count() == 0 and ParkingOutcome.objects.count() == 0


@pytest.mark.postgres
def test_a_claim_whose_run_still_holds_its_lock_is_not_taken_not_even_by_its_own_task_run_again(
    lane_engine, lane_composition, claim_locks_in_force
):
    parked = claimed_attempt(lane_engine, "task-1@host-a")

    with run_still_at("attempt", parked.pk, 2):  # its broker connection was lost; the broker delivered it again
        assert retries.run_attempt(parked.pk, 2, worker="task-1@host-a", again=True) == "claimed-elsewhere"
        assert retries.run_attempt(parked.pk, 2, worker="task-1@host-b") == "claimed-elsewhere"
    assert DocumentIndexed.objects.count() == 0 and ParkingOutcome.objects.count() == 0


@pytest.mark.postgres
def test_a_claim_whose_run_has_ended_without_an_outcome_is_taken_over_by_the_next_run(
    lane_engine, lane_composition, claim_locks_in_force
):
    parked = claimed_attempt(lane_engine, "task-1@host-a")  # died

    # Whoever runs the attempt next takes it over: a message the broker gave back, another task, any host.
    with capture_logs() as logs:
        assert retries.run_attempt(parked.pk, 2, worker="task-7@host-c") == "inserted"
    taken = [line for line in logs if line["event"] == "retry.claim_taken_over"]
    assert [(line["attempt"], line["claimed_by"]) for line in taken] == [(2, "task-1@host-a")]
    assert DocumentIndexed.objects.count() == 1 and DocumentPublished.objects.count() == 1
    assert list(RetryClaim.objects.values_list("attempt", "worker")) == [(2, "task-1@host-a")]
    assert list(RetryTakeover.objects.values_list("attempt", "worker", "taken_from")) == [
        (2, "task-7@host-c", "task-1@host-a")
    ]
    assert list(ParkingOutcome.objects.values_list("outcome", "attempts")) == [("resolved", 2)]
    assert retries.run_attempt(parked.pk, 2, worker="task-8@host-c") == "closed"  # and only once


def test_exhausted_retries_end_in_one_dead_letter(lane_engine, lane_composition):
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    assert parked.command == {"text": "a"}  # nothing accepted is lost, even before the first checkpoint
    for attempt in (2, 3, 4):
        assert retries.run_attempt(parked.pk, attempt) == "failed"
    dead = ParkingOutcome.objects.get()
    assert (dead.outcome, dead.reason, dead.attempts) == ("dead_lettered", "retry_exhausted", 4)
    assert ErrorSinkEntry.objects.count() == 4
    assert RetryScheduled.objects.count() == 3
    assert DocumentReceived.objects.count() == 0


def test_a_non_retryable_error_dead_letters_at_once(lane_engine):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    dead = ParkingOutcome.objects.get()
    assert (dead.reason, dead.attempts) == ("non_retryable", 1)
    assert RetryScheduled.objects.count() == 0
    assert ErrorSinkEntry.objects.get().error_code == "INVALID_DATA"


def test_per_pipeline_atomicity_rolls_back_the_whole_pipeline():
    lane.FAILURES.clear()
    lane.FAILURES["tokenize"] = "bug"
    try:
        execution = Engine(lane.COMPOSITION, atomicity="pipeline").start("ingest", {"text": "a b"}, "doc-1")
    finally:
        lane.FAILURES.clear()
    assert execution.first.status == "failed" and execution.first.step == "tokenize"
    assert DocumentReceived.objects.count() == 0 and CheckpointLog.objects.count() == 0
    assert ErrorSinkEntry.objects.get().step == "tokenize"
    assert ParkedItem.objects.get().step == "receive"


def test_per_pipeline_atomicity_runs_the_same_chain():
    before = all_insert_only_counts()
    Engine(lane.COMPOSITION, atomicity="pipeline").start("ingest", {"text": "a b"}, "doc-1")
    after = all_insert_only_counts()
    assert after["lane.TokenIndexed"] - before["lane.TokenIndexed"] == 2
    assert after["lane.DocumentPublished"] == 1


def test_a_failure_and_an_ops_action_on_a_node_whose_clock_is_behind_carry_the_databases_time(lane_engine):
    lane.FAILURES["index"] = 1
    with node_clock(-15):  # before: each was written 15 minutes old, and retention's policy ran 15 minutes short
        lane_engine.start("ingest", {"text": "a"}, "doc-1")
        trace_id = ErrorSinkEntry.objects.get().trace_id
        actions.record("redrive", trace_id, actor="ops:erin", reason="courier back", preview_seq=None, result={})

    database = clock.now()
    assert database - datetime.timedelta(seconds=5) < ErrorSinkEntry.objects.get().created_at <= database
    assert database - datetime.timedelta(seconds=5) < OpsAction.objects.get().created_at <= database


def test_the_same_key_failing_again_at_the_same_attempt_keeps_its_one_dead_letter(lane_engine):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    before = all_insert_only_counts()

    again = lane_engine.start("ingest", {"text": "a"}, "doc-1")  # the caller sends it again

    assert [r.status for r in again.results] == ["replayed", "failed"]
    assert list(ParkingOutcome.objects.values_list("outcome", "reason", "attempts")) == [
        ("dead_lettered", "non_retryable", 1)
    ]
    assert all_insert_only_counts() == before


def test_a_dead_letter_failing_again_at_its_attempt_with_a_retryable_error_is_not_retried(lane_engine):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    lane.FAILURES["tokenize"] = "bug"
    before = all_insert_only_counts()

    lane_engine.start("ingest", {"text": "a"}, "doc-1")

    assert RetryScheduled.objects.count() == 0
    assert ParkingOutcome.objects.get().reason == "non_retryable"
    assert all_insert_only_counts() == before


def test_an_attempt_already_scheduled_again_is_not_dead_lettered_by_its_second_failure(lane_engine):
    lane.FAILURES["tokenize"] = "bug"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    lane.FAILURES["tokenize"] = "fatal"
    before = all_insert_only_counts()

    lane_engine.start("ingest", {"text": "a"}, "doc-1")

    assert list(RetryScheduled.objects.values_list("attempt", flat=True)) == [2]
    assert ParkingOutcome.objects.count() == 0
    assert all_insert_only_counts() == before


def test_a_retry_task_run_again_after_its_attempt_was_dead_lettered_records_nothing_more(
    lane_engine, lane_composition, without_claim_locks
):
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    for attempt in (2, 3, 4):
        assert retries.run_attempt(parked.pk, attempt, worker=f"task-{attempt}@host-a") == "failed"
    before = all_insert_only_counts()

    # The process died after the dead letter committed, before the broker heard: Celery runs the task again.
    assert retries.run_attempt(parked.pk, 4, worker="task-4@host-b", again=True) == "closed"

    assert list(ParkingOutcome.objects.values_list("reason", "attempts")) == [("retry_exhausted", 4)]
    assert all_insert_only_counts() == before


def test_each_redrive_of_a_dead_letter_failing_again_is_one_dead_letter_of_its_own_attempt(
    lane_engine, lane_composition
):
    lane.FAILURES["tokenize"] = "fatal"
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()

    assert [actions.redrive(parked), actions.redrive(parked)] == ["failed", "failed"]

    assert list(ParkingOutcome.objects.order_by("id").values_list("reason", "attempts")) == [
        ("non_retryable", 1),
        ("non_retryable", 2),
        ("non_retryable", 3),
    ]
    assert list(ErrorSinkEntry.objects.order_by("attempt").values_list("attempt", flat=True)) == [1, 2, 3]
