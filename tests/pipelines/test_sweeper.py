"""The sweeper on the test lane: lost messages, lost attempts, partial progress; bounded and decided once."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from prometheus_client import REGISTRY

from pipelines.contracts.declarations import Pipeline, RetryPolicy, Step
from pipelines.contracts.steps import Output, StepContext
from pipelines.engine.runner import Engine
from pipelines.failures import parking
from pipelines.failures.parking import retry_policy
from pipelines.models import (
    CheckpointLog,
    ErrorSinkEntry,
    ParkedItem,
    ParkingOutcome,
    Resumption,
    RetryClaim,
    RetryScheduled,
)
from pipelines.recovery import actions, retries, sweeper
from pipelines.recovery import resume as recovery
from pipelines.store import claim_locks, clock
from tests.conftest import all_insert_only_counts, claimed_attempt, node_clock, run_still_at
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived, DocumentRefused, TokenIndexed

pytestmark = pytest.mark.django_db

ENQUEUED: list[tuple[str, int]] = []
RESUMES: list[tuple[str, int]] = []


def capture_retry(parked_id, attempt, due) -> None:
    ENQUEUED.append((str(parked_id), attempt))


def capture_resume(trace_id, seq) -> None:
    RESUMES.append((str(trace_id), seq))


@pytest.fixture(autouse=True)
def hooks(settings, lane_composition):
    ENQUEUED.clear()
    RESUMES.clear()
    settings.TPFGO_RETRY_ENQUEUE = "tests.pipelines.test_sweeper.capture_retry"
    settings.TPFGO_RESUME_ENQUEUE = ""  # resume inline, here
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = 300
    yield
    lane.FAILURES.clear()


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def without_subscriptions():
    return Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=()))


# -- retry policies ----------------------------------------------------------------------------------------------
def test_a_retry_policy_doubles_caps_and_is_deterministic_without_jitter():
    policy = RetryPolicy(base_delay=10, multiplier=2, cap=30)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 30, 30]


def test_jitter_spreads_a_delay_within_its_fraction_and_never_past_the_cap():
    policy = RetryPolicy(base_delay=10, multiplier=2, cap=25, jitter=0.5)
    assert policy.delay(1, rand=lambda: 0.0) == 5.0
    assert policy.delay(1, rand=lambda: 1.0) == 15.0
    assert policy.delay(2, rand=lambda: 1.0) == 25.0


def test_settings_retune_one_step_over_its_declared_policy(settings):
    step = lane.INGEST.step("index")
    settings.TPFGO_RETRY_POLICIES = {"ingest.index": {"max_attempts": 9}}
    assert retry_policy("ingest", step) == dataclasses.replace(lane.FAST, max_attempts=9)
    assert retry_policy("ingest", lane.INGEST.step("receive")) == lane.FAST


# -- pass 1: lost broker messages --------------------------------------------------------------------------------
def test_a_due_retry_nobody_claimed_is_enqueued_again(lane_engine, django_capture_on_commit_callbacks):
    lane.FAILURES["index"] = 1
    with django_capture_on_commit_callbacks(execute=True):
        lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    parked = ParkedItem.objects.get()
    assert ENQUEUED == [(str(parked.pk), 2)]  # on commit, as in production; then the message is lost
    ENQUEUED.clear()

    assert sweeper.sweep(now=later(10)).reenqueued == []  # not overdue past the grace period yet
    assert sweeper.sweep(now=later(120)).reenqueued == [(str(parked.pk), 2)]
    assert ENQUEUED == [(str(parked.pk), 2)]

    assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"
    ENQUEUED.clear()
    assert sweeper.sweep(now=later(120)).reenqueued == []  # claimed now
    assert sweeper.sweep(now=later(7200)).reenqueued == []  # and out of the window anyway


def test_a_retry_of_a_closed_item_is_not_enqueued_again(lane_engine):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    ParkingOutcome.objects.create(parked=parked, outcome="cancelled", attempts=1, created_at=timezone.now())
    assert sweeper.sweep(now=later(120)).reenqueued == []


# -- pass 2: attempts lost with their worker -----------------------------------------------------------------------
def test_an_attempt_whose_worker_died_gets_the_next_attempt(lane_engine):
    parked = claimed_attempt(lane_engine, "w-dead")

    with run_still_at("attempt", parked.pk, 2):
        assert sweeper.sweep(now=later(100)).rescheduled == []  # maybe still running (it holds its lock)
        report = sweeper.sweep(now=later(400))  # past the claim timeout: stuck or dead, the next attempt goes ahead

    assert report.rescheduled == [(str(parked.pk), 3)]
    assert RetryScheduled.objects.filter(attempt=3).exists()
    assert retries.run_attempt(parked.pk, 3) == "inserted"
    assert DocumentIndexed.objects.count() == 1 and DocumentPublished.objects.count() == 1


@pytest.mark.postgres
def test_an_attempt_whose_run_has_ended_gets_the_next_attempt_before_the_claim_timeout(
    lane_engine, claim_locks_in_force
):
    parked = claimed_attempt(lane_engine, "w-dead")

    assert sweeper.sweep(now=later(30)).rescheduled == []  # younger than TPFGO_SWEEP_ORPHAN_SECONDS (60)
    with run_still_at("attempt", parked.pk, 2):
        assert sweeper.sweep(now=later(100)).rescheduled == []
    report = sweeper.sweep(now=later(100))  # its lock is free: its run died; 100 s < the claim timeout (300)

    assert report.rescheduled == [(str(parked.pk), 3)]
    assert list(RetryScheduled.objects.filter(parked=parked).values_list("attempt", flat=True).order_by("attempt")) == [
        2,
        3,
    ]
    assert retries.run_attempt(parked.pk, 2) == "claimed-elsewhere"  # the dead run's message, given back late
    assert retries.run_attempt(parked.pk, 3) == "inserted"
    assert DocumentIndexed.objects.count() == 1 and DocumentPublished.objects.count() == 1


# A node whose clock is off: claims and due times are the database's clock, written and compared
# (pipelines.store.clock), so no node's clock decides whether a claim is live.
def skewed(minutes: float) -> time_machine.travel:
    """This node's clock, ``minutes`` off the database's (and the other nodes')."""
    return time_machine.travel(timezone.now() + datetime.timedelta(minutes=minutes), tick=False)


def attempts_scheduled(parked: ParkedItem) -> list[int]:
    return list(RetryScheduled.objects.filter(parked=parked).values_list("attempt", flat=True).order_by("attempt"))


def test_a_sweeper_whose_clock_is_ahead_leaves_a_live_attempt_to_its_run(lane_engine):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    assert parking.claim(parked, 2, "task-1@host-a")  # a worker is at attempt 2 right now

    with run_still_at("attempt", parked.pk, 2), skewed(10):  # before: the claim looked 10 minutes old, past 300 s
        report = sweeper.sweep()

    assert report.rescheduled == [] and report.dead_lettered == []
    assert attempts_scheduled(parked) == [2]


def test_a_sweeper_whose_clock_is_behind_recovers_a_stuck_attempt_after_the_claim_timeout(lane_engine):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=2, worker="task-1@host-a", created_at=later(-400))

    with run_still_at("attempt", parked.pk, 2), skewed(-10):  # before: 400 s looked younger than the timeout
        report = sweeper.sweep()

    assert report.rescheduled == [(str(parked.pk), 3)]
    assert attempts_scheduled(parked) == [2, 3]


def test_an_attempt_claimed_on_a_node_whose_clock_is_behind_is_not_taken_for_lost(lane_engine):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    with skewed(-10):  # the worker's node; before: its claim was written ten minutes old
        assert parking.claim(parked, 2, "task-1@host-a")

    with run_still_at("attempt", parked.pk, 2):
        report = sweeper.sweep()

    assert report.rescheduled == [] and report.dead_lettered == []
    assert attempts_scheduled(parked) == [2]
    database = clock.now()
    assert database - datetime.timedelta(seconds=5) < RetryClaim.objects.get().created_at <= database


def test_a_failure_on_a_node_whose_clock_is_behind_schedules_its_retry_by_the_databases_clock(lane_engine):
    lane.FAILURES["index"] = 1
    with skewed(-10):  # before: the retry was due ten minutes ago, and the sweeper sent it again at once
        lane_engine.start("ingest", {"text": "a"}, "doc-1")

    scheduled = RetryScheduled.objects.get()
    database = clock.now()
    assert database - datetime.timedelta(seconds=5) < scheduled.created_at <= database
    assert scheduled.due_at - scheduled.created_at == datetime.timedelta(seconds=lane.FAST.delay(1))
    assert sweeper.sweep().reenqueued == []


def test_a_redrive_on_a_node_whose_clock_is_behind_schedules_its_attempt_by_the_databases_clock(lane_engine):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    with skewed(-10):  # before: the redriven attempt was scheduled ten minutes before the outcomes it follows
        assert actions.redrive(parked) == "inserted"

    redriven = RetryScheduled.objects.get(attempt=3)
    database = clock.now()
    assert database - datetime.timedelta(seconds=5) < redriven.created_at <= database


def test_a_lost_attempt_past_the_policy_is_dead_lettered(lane_engine):
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=5, worker="w-dead", created_at=timezone.now())

    assert sweeper.sweep(now=later(400)).dead_lettered == [str(parked.pk)]
    dead = ParkingOutcome.objects.get()
    assert (dead.outcome, dead.reason, dead.attempts) == ("dead_lettered", "retry_exhausted", 5)
    assert "worker lost during attempt 5" in dead.last_error


def test_a_hung_worker_failing_the_attempt_the_sweeper_dead_lettered_records_nothing_more(lane_engine):
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=5, worker="w-hung", created_at=timezone.now())
    assert sweeper.sweep(now=later(400)).dead_lettered == [str(parked.pk)]
    before = all_insert_only_counts()

    # The worker was not dead: its run of attempt 5 ends now, failing as the attempts before it.
    woke = lane_engine.run(
        "ingest",
        retries.load_value(parked),
        step="receive",
        attempt=5,
        key=parked.idempotency_key,
        trace_id=parked.trace_id,
    )

    assert woke.first.status == "failed"
    assert list(ParkingOutcome.objects.values_list("reason", "attempts")) == [("retry_exhausted", 5)]
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(("failures", "attempt", "dead"), [(1, 2, False), (9, 5, True)])
def test_a_lost_attempt_is_an_error_sink_entry_with_its_code(lane_engine, failures, attempt, dead):
    """docs/operations.md's error codes and runbook key on ``ATTEMPT_LOST``: the console's error groups, a bulk
    selection by code and the order's ``stalled`` read the error sink, which had no entry for a lost attempt (a dead
    letter showed the attempt before it, say a gateway's code, and ``--code ATTEMPT_LOST`` found nothing)."""
    lane.FAILURES["receive"] = failures
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=attempt, worker="w-dead", created_at=timezone.now())

    report = sweeper.sweep(now=later(400))

    assert (report.dead_lettered == [str(parked.pk)]) is dead
    entry = ErrorSinkEntry.objects.get(item_id=parked.item_id, attempt=attempt)
    assert (entry.error_code, entry.pipeline, entry.step, entry.trace_id) == (
        "ATTEMPT_LOST",
        parked.pipeline,
        parked.step,
        parked.trace_id,
    )
    assert "worker lost during attempt" in entry.message
    failure = parking.open_failure(parked.trace_id)
    assert failure is not None and failure.error_class.endswith("AttemptLost") and failure.dead_lettered is dead
    sweeper.sweep(now=later(800))  # swept again: still one entry per attempt
    assert ErrorSinkEntry.objects.filter(item_id=parked.item_id, attempt=attempt).count() == 1


# -- pass 3: partial progress ---------------------------------------------------------------------------------------
def test_a_trace_stopped_between_two_pipelines_is_resumed_once():
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")  # as if the process died after 'index'
    assert DocumentPublished.objects.count() == 0

    assert sweeper.sweep(now=later(10)).resumes == []  # within the grace period
    report = sweeper.sweep(now=later(120))

    assert len(report.resumes) == 1
    assert DocumentPublished.objects.count() == 1
    assert Resumption.objects.get().decision == "resumed"
    before = all_insert_only_counts()
    assert sweeper.sweep(now=later(600)).resumes == []  # terminal now: nothing left to do
    assert all_insert_only_counts() == before


def test_a_trace_stopped_on_a_node_whose_clock_is_behind_is_left_to_its_run_through_the_grace_period():
    with node_clock(-10):  # the web or worker node; before: its checkpoints were written ten minutes old
        without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")

    assert sweeper.sweep().resumes == []  # before: resumed at once, beside the run that may still be at it
    assert Resumption.objects.count() == 0
    database = clock.now()
    written = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed").created_at
    assert database - datetime.timedelta(seconds=5) < written <= database


def claimed_position(worker: str, created_at: datetime.datetime | None = None) -> tuple[uuid.UUID, int]:
    """A lane trace stalled after 'index', whose position a resume by ``worker`` claimed and never finished."""
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    Resumption.objects.create(
        trace_id=stalled.trace_id,
        seq=stalled.seq,
        attempt=1,
        decision="resumed",
        worker=worker,
        created_at=created_at or timezone.now(),
    )
    return stalled.trace_id, stalled.seq


def test_without_a_lock_a_resume_run_again_goes_on_with_its_own_claim_and_no_other(without_claim_locks):
    # The claim of a resume the database went away under, or whose process died.
    trace, seq = claimed_position("task-1@host-a")

    assert recovery.resume(trace, seq, worker="task-2@host-a", again=True) == "claimed-elsewhere"  # not its own
    assert recovery.resume(trace, seq, worker="task-1@host-a") == "claimed-elsewhere"  # a first run: a duplicate
    assert DocumentPublished.objects.count() == 0
    assert recovery.resume(trace, seq, worker="task-1@host-b", again=True) == "inserted"  # on any host
    assert DocumentPublished.objects.count() == 1
    assert list(Resumption.objects.values_list("attempt", "decision")) == [(1, "resumed")]


def test_a_resume_run_again_does_not_take_a_claim_a_later_attempt_replaced():
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    for attempt, worker in ((1, "task-1@host-a"), (2, "sweeper")):  # the claim timed out; the sweeper resumed again
        Resumption.objects.create(
            trace_id=stalled.trace_id,
            seq=stalled.seq,
            attempt=attempt,
            decision="resumed",
            worker=worker,
            created_at=timezone.now(),
        )

    with run_still_at("position", stalled.trace_id, stalled.seq):  # attempt 2's resume is at it
        assert recovery.resume(stalled.trace_id, stalled.seq, worker="task-1@host-a", again=True) == "claimed-elsewhere"
    assert DocumentPublished.objects.count() == 0


@pytest.mark.postgres
def test_a_resume_whose_run_has_ended_is_taken_over_at_once_and_swept_up_before_the_claim_timeout(claim_locks_in_force):
    trace, seq = claimed_position("task-1@host-a")  # a resume whose worker died

    assert sweeper.sweep(now=later(30)).resumes == []  # within the grace; younger than the orphan age
    with run_still_at("position", trace, seq):
        assert sweeper.sweep(now=later(100)).resumes == []  # still at it
        assert recovery.resume(trace, seq, worker="task-2@host-b") == "claimed-elsewhere"
    report = sweeper.sweep(now=later(100))  # 100 s < the claim timeout (300)

    assert report.resumes == [(str(trace), seq)]
    assert DocumentPublished.objects.count() == 1
    assert list(Resumption.objects.values_list("attempt", "decision").order_by("attempt")) == [
        (1, "resumed"),
        (2, "resumed"),
    ]
    assert sweeper.sweep(now=later(200)).resumes == []  # the trace went on: nothing left


@pytest.mark.postgres
def test_a_resume_leaves_the_position_to_a_run_that_holds_its_lock_and_has_not_claimed_yet(claim_locks_in_force):
    # Eight sweepers at one position: the lock's holder claims a moment later and, alone, would have taken a claim
    # this one made for a dead run's and resumed beside it.
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")

    with run_still_at("position", stalled.trace_id, stalled.seq):
        assert recovery.resume(stalled.trace_id, stalled.seq, worker="task-2@host-b") == "claimed-elsewhere"
    assert Resumption.objects.count() == 0
    assert DocumentPublished.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("ahead", [0, 10], ids=["clocks-in-sync", "holder-ten-minutes-ahead"])
def test_a_resume_that_takes_the_lock_leaves_the_position_to_a_run_that_claimed_it_since(
    claim_locks_in_force, monkeypatch, ahead
):
    # A dead run's claim older than the claim timeout: two resumes come. One takes the lock; the other, finding it
    # held and the only claim stuck, claims the next attempt before the first one counts. That claim is live: the
    # lock's holder, alone, took it for a dead run's and resumed beside it. With the holder's node ``ahead`` minutes
    # ahead, by its own clock it took the lock after that claim: the claims and the lock's time are the database's
    # clock (pipelines.store.clock), so no node's clock orders them.
    trace, seq = claimed_position("task-1@host-a", later(-400))
    locked = claim_locks.working_on
    right = timezone.now  # the other node's clock, and the database's

    @contextlib.contextmanager
    def then_a_run_without_the_lock_claims(kind, *parts):
        with locked(kind, *parts) as alone:
            assert alone is True
            Resumption.objects.create(
                trace_id=trace, seq=seq, attempt=2, decision="resumed", worker="task-3@host-c", created_at=right()
            )
            yield alone

    monkeypatch.setattr(timezone, "now", lambda: right() + datetime.timedelta(minutes=ahead))  # the holder's node
    monkeypatch.setattr(claim_locks, "working_on", then_a_run_without_the_lock_claims)
    assert recovery.resume(trace, seq, worker="task-2@host-b") == "claimed-elsewhere"
    assert list(Resumption.objects.values_list("attempt", "worker").order_by("attempt")) == [
        (1, "task-1@host-a"),
        (2, "task-3@host-c"),
    ]
    assert DocumentPublished.objects.count() == 0


def test_a_position_is_claimed_at_the_databases_time_whatever_the_nodes_clock_says(monkeypatch):
    trace, seq = claimed_position("task-1@host-a")
    right = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: right() - datetime.timedelta(minutes=10))  # a node ten minutes behind
    assert recovery._record(trace, seq, 2, "resumed", "", "task-2@host-b")
    database = clock.now()
    claimed = Resumption.objects.get(attempt=2).created_at
    assert database - datetime.timedelta(seconds=5) < claimed <= database


@pytest.mark.postgres
def test_a_resume_stuck_past_the_claim_timeout_is_followed_though_it_still_holds_its_lock(claim_locks_in_force):
    # A resume alive but stuck (a call that never answers), claimed longer ago than the claim timeout (300).
    trace, seq = claimed_position("task-1@host-a", later(-400))

    with run_still_at("position", trace, seq):
        report = sweeper.sweep(now=later(100))
        assert report.resumes == [(str(trace), seq)]
    assert DocumentPublished.objects.count() == 1
    assert list(Resumption.objects.values_list("attempt", "decision").order_by("attempt")) == [
        (1, "resumed"),
        (2, "resumed"),
    ]


def test_a_trace_stopped_inside_a_split_resumes_the_merge_of_every_sibling():
    cut = dataclasses.replace(lane.INGEST, steps=lane.INGEST.steps[:2])  # ingest without its merge
    Engine(dataclasses.replace(lane.COMPOSITION, pipelines=(cut, lane.PUBLISH))).start(
        "ingest", {"text": "c a b"}, "doc-1"
    )
    assert TokenIndexed.objects.count() == 3 and DocumentIndexed.objects.count() == 0

    sweeper.sweep(now=later(120))

    indexed = DocumentIndexed.objects.get()
    assert indexed.tokens == 3 and indexed.idempotency_key == "doc-1"
    assert DocumentPublished.objects.count() == 1


def _one_waiting_one_parked(settings, lane_engine) -> None:
    """Two traces at rest: one whose next step awaits an event (publish, made to await), one parked at index."""
    waiting = dataclasses.replace(lane.PUBLISH, steps=(dataclasses.replace(lane.PUBLISH.steps[0], awaits=True),))
    settings.TPFGO_COMPOSITION = "tests.pipelines.test_sweeper.AWAITING"
    globals()["AWAITING"] = dataclasses.replace(lane.COMPOSITION, pipelines=(lane.INGEST, waiting, lane.MANUAL))
    without_subscriptions().start("ingest", {"text": "a"}, "doc-1")
    lane.FAILURES["index"] = "bug"
    lane_engine.start("ingest", {"text": "b"}, "doc-2")  # parked at index


def test_a_trace_waiting_for_an_event_or_parked_is_skipped_and_decided_once(settings, lane_engine):
    _one_waiting_one_parked(settings, lane_engine)

    sweeper.sweep(now=later(120))

    decisions = sorted(Resumption.objects.values_list("decision", "detail"))
    assert decisions == [("skipped", "awaits publish.publish"), ("skipped", "open parking")]
    assert DocumentPublished.objects.count() == 0
    assert sweeper.sweep(now=later(600)).resumes == []


def sweep_actions(action: str) -> float:
    value = REGISTRY.get_sample_value("tpfgo_sweep_actions_total", {"action": action})
    return float(value or 0)


def test_the_sweep_settles_a_position_waiting_for_an_event_or_parked_itself_and_counts_no_resume(settings, lane_engine):
    """A resume of it would run nothing: sending one counted work the sweeper recovered (TPFGoSweeperRecoveringWork
    fired on orders a restaurant had not accepted yet) and cost a task that only recorded the skip."""
    settings.TPFGO_RESUME_ENQUEUE = "tests.pipelines.test_sweeper.capture_resume"
    _one_waiting_one_parked(settings, lane_engine)
    resumes = sweep_actions("resumes")

    report = sweeper.sweep(now=later(120))

    assert (report.resumes, RESUMES, sweep_actions("resumes") - resumes) == ([], [], 0)
    decisions = sorted(Resumption.objects.values_list("decision", "detail", "worker"))
    assert decisions == [("skipped", "awaits publish.publish", "sweeper"), ("skipped", "open parking", "sweeper")]
    assert sweeper.sweep(now=later(600)).resumes == [] and RESUMES == []


def test_the_sweep_command_lists_the_positions_it_settled_as_skipped(settings, lane_engine, monkeypatch):
    """What the dry run says it would skip, the sweep says it skipped (it printed nothing of them: its summary and
    its dry run's disagreed by the positions it settled)."""
    _one_waiting_one_parked(settings, lane_engine)
    moment = later(120)
    monkeypatch.setattr(clock, "now", lambda: moment)
    dry = run_sweep("--dry-run").splitlines()

    lines = run_sweep().splitlines()

    skipped = [line for line in lines if line.startswith("skipped trace ")]
    assert len(skipped) == 2 and [line.replace("would skip", "skipped") for line in dry if "skip " in line] == skipped
    assert lines[-1].endswith("held 0, skipped 2") and dry[-1].endswith("held 0, skipped 2")
    assert Resumption.objects.filter(decision=Resumption.SKIPPED).count() == 2


def test_a_position_this_composition_cannot_read_is_sent_as_before_and_the_sweep_goes_on(settings):
    """Its pipeline is gone from the composition: the worker's resume fails on it, as it did; the sweep's own look
    at it must not end the sweep (every other position, retry and hand-off would wait)."""
    cut = dataclasses.replace(lane.INGEST, steps=lane.INGEST.steps[:2])  # the trace stops inside ingest
    Engine(dataclasses.replace(lane.COMPOSITION, pipelines=(cut, lane.PUBLISH))).start(
        "ingest", {"text": "c a b"}, "doc-1"
    )
    settings.TPFGO_RESUME_ENQUEUE = "tests.pipelines.test_sweeper.capture_resume"
    settings.TPFGO_COMPOSITION = "tests.pipelines.test_sweeper.WITHOUT_INGEST"
    globals()["WITHOUT_INGEST"] = dataclasses.replace(
        lane.COMPOSITION, pipelines=(lane.PUBLISH, lane.MANUAL), subscriptions=()
    )
    newest = CheckpointLog.objects.order_by("-seq").first()

    report = sweeper.sweep(now=later(120))

    assert report.resumes == RESUMES == [(str(newest.trace_id), newest.seq)]
    assert Resumption.objects.count() == 0


def test_the_dry_run_lists_a_position_this_composition_cannot_read_as_the_sweep_would_send_it(settings, monkeypatch):
    """The dry run asks the same question as the sweep: it ended in a traceback here, so an operator checking what
    a sweep would do after a deploy that removed a pipeline saw nothing of the rest."""
    test_a_position_this_composition_cannot_read_is_sent_as_before_and_the_sweep_goes_on(settings)
    RESUMES.clear()
    newest = CheckpointLog.objects.order_by("-seq").first()
    moment = later(600)
    monkeypatch.setattr(clock, "now", lambda: moment)

    lines = run_sweep("--dry-run").splitlines()

    assert lines[-2:] == [
        f"would resume trace {newest.trace_id} from checkpoint log row {newest.seq}",
        "dry run: reenqueued 0, rescheduled 0, dead_lettered 0, resumes 1, aux_branches 0, handoffs 0, held 0",
    ]
    assert RESUMES == []


def late_refusal(ctx: StepContext[DocumentReceived]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "reason": "LATE"})


# A side pipeline on the same trace that ends in a terminal publication, as a refused cancellation does.
SIDE = Pipeline(
    name="late-refusal",
    inputs=(DocumentReceived,),
    steps=(Step("late_refusal", late_refusal, DocumentRefused),),
    output=lane.REFUSED,
)
WITH_SIDE = dataclasses.replace(lane.COMPOSITION, pipelines=(*lane.COMPOSITION.pipelines, SIDE))


def test_a_stall_of_the_chain_is_resumed_even_behind_a_later_side_pipeline(settings):
    settings.TPFGO_COMPOSITION = "tests.pipelines.test_sweeper.WITH_SIDE"
    Engine(dataclasses.replace(WITH_SIDE, subscriptions=())).start("ingest", {"text": "a b"}, "doc-1")
    assert Engine(WITH_SIDE).run("late-refusal", DocumentReceived.objects.get()).first.status == "inserted"
    newest = CheckpointLog.objects.latest("seq")
    assert (newest.pipeline, newest.publication) == ("late-refusal", lane.REFUSED.name)  # terminal, newest

    report = sweeper.sweep(now=later(120))

    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    assert report.resumes == [(str(stalled.trace_id), stalled.seq)]
    assert DocumentPublished.objects.count() == 1
    assert list(Resumption.objects.values_list("seq", "decision")) == [(stalled.seq, "resumed")]
    assert sweeper.sweep(now=later(600)).resumes == []


def test_a_resume_that_writes_nothing_settles_its_position(settings):
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")  # stalled after 'index'
    assert Engine(lane.COMPOSITION).run("manual-publish", DocumentReceived.objects.get()).first.status == "inserted"
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    before = DocumentPublished.objects.get()

    report = sweeper.sweep(now=later(120))

    assert (str(stalled.trace_id), stalled.seq) in report.resumes
    assert DocumentPublished.objects.get() == before  # 'publish' lost to the manual path: nothing written
    decisions = list(Resumption.objects.filter(seq=stalled.seq).order_by("attempt").values_list("decision", "detail"))
    assert decisions == [("resumed", ""), ("skipped", "settled: lost")]
    assert sweeper.sweep(now=later(1000)).resumes == []  # past the claim timeout, in the window: settled
    assert Resumption.objects.filter(seq=stalled.seq).count() == 2


def test_the_candidates_query_is_one_bounded_query(django_assert_num_queries):
    for n in range(5):
        without_subscriptions().start("ingest", {"text": f"w{n}"}, f"doc-{n}")
    with django_assert_num_queries(1):
        rows = recovery.candidates(now=later(120))
    assert len(rows) == 5
    assert recovery.candidates(now=later(7200)) == []  # older than the window: out of reach
    assert CheckpointLog.objects.count() == 15


# -- manage.py sweep: by hand, further back than beat's window ----------------------------------------------------
def run_sweep(*args: str) -> str:
    out = io.StringIO()
    call_command("sweep", *args, stdout=out)
    return out.getvalue()


def test_the_sweep_command_reaches_a_stall_older_than_the_window(monkeypatch):
    without_subscriptions().start("ingest", {"text": "a b"}, "doc-1")  # stalled after 'index'
    trace, seq = CheckpointLog.objects.order_by("-seq").values_list("trace_id", "seq").first()
    two_hours_on = later(7200)
    assert sweeper.sweep(now=two_hours_on).resumes == []  # beat's window is one hour here
    monkeypatch.setattr(clock, "now", lambda: two_hours_on)  # the database's clock
    before = all_insert_only_counts()

    assert run_sweep("--window", "3h", "--dry-run").splitlines() == [
        f"would resume trace {trace} from checkpoint log row {seq}",
        "dry run: reenqueued 0, rescheduled 0, dead_lettered 0, resumes 1, aux_branches 0, handoffs 0, held 0",
    ]
    assert all_insert_only_counts() == before  # a dry run changes nothing
    assert run_sweep("--window", "150m").splitlines() == [
        f"resume trace {trace} from checkpoint log row {seq}",
        "swept: reenqueued 0, rescheduled 0, dead_lettered 0, resumes 1, aux_branches 0, handoffs 0, held 0",
    ]
    assert DocumentPublished.objects.count() == 1
    assert Resumption.objects.get().decision == "resumed"
    assert run_sweep("--window", "3h").splitlines() == [
        "swept: reenqueued 0, rescheduled 0, dead_lettered 0, resumes 0, aux_branches 0, handoffs 0, held 0"
    ]


def test_the_sweep_command_dry_run_lists_lost_retries_and_attempts_without_acting(lane_engine, monkeypatch):
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "b"}, "doc-2")
    first, second = ParkedItem.objects.order_by("created_at")
    RetryClaim.objects.create(parked=second, attempt=5, worker="w-dead", created_at=timezone.now())
    ENQUEUED.clear()
    log_seq = CheckpointLog.objects.filter(trace_id=first.trace_id).latest("seq").seq  # its newest row: parked after it
    moment = later(400)
    monkeypatch.setattr(clock, "now", lambda: moment)
    before = all_insert_only_counts()

    lines = run_sweep("--dry-run").splitlines()

    assert lines == [
        f"would re-enqueue parked item {first.pk}, attempt 2",
        f"would re-enqueue parked item {second.pk}, attempt 2",
        f"would dead-letter parked item {second.pk} (attempts exhausted, worker lost)",
        f"would skip trace {first.trace_id} at checkpoint log row {log_seq}: open parking",
        "dry run: reenqueued 2, rescheduled 0, dead_lettered 1, resumes 0, aux_branches 0, handoffs 0, held 0, "
        "skipped 1",
    ]
    assert ENQUEUED == [] and all_insert_only_counts() == before


@pytest.mark.parametrize("args", [("--window", "soon"), ("--window", "0h"), ("--limit", "0")])
def test_the_sweep_command_refuses_a_bad_window_or_limit_and_does_nothing(args):
    without_subscriptions().start("ingest", {"text": "a"}, "doc-1")
    before = all_insert_only_counts()
    with pytest.raises(CommandError):
        call_command("sweep", *args, stdout=io.StringIO())
    assert all_insert_only_counts() == before and Resumption.objects.count() == 0
