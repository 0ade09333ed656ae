"""Checkpoint observers (committed only, in log order, resumable, gap-aware) versus mid-step taps (best effort)."""

import threading
import uuid

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ObserverPosition
from pipelines.store import observers, traces, writes
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seen():
    entries: list[CheckpointLog] = []
    observers.observe(name="test-all")(entries.append)
    yield entries
    observers.unregister("test-all")


def reader(name="test-all", **kwargs):
    return observers.Reader(observers.registered()[name], **kwargs)


def log_order():
    return list(CheckpointLog.objects.order_by("seq").values_list("checkpoint_id", flat=True))


def test_an_observer_stopped_and_restarted_sees_every_checkpoint_once_in_log_order(lane_engine, seen):
    lane_engine.start("ingest", {"text": "alpha beta"}, "doc-1")
    assert reader().poll() == 5
    # Stopped (its reader discarded); more work commits meanwhile; a new reader resumes from the stored position.
    lane_engine.start("ingest", {"text": "gamma"}, "doc-2")
    lane_engine.start("ingest", {"text": ""}, "doc-3")
    assert ObserverPosition.objects.get(name="test-all").seq == CheckpointLog.objects.order_by("seq")[4].seq
    assert reader().poll() == 5
    assert reader().poll() == 0
    assert [e.checkpoint_id for e in seen] == log_order()
    assert len({e.checkpoint_id for e in seen}) == CheckpointLog.objects.count() == 10


def test_an_observer_of_a_publication_sees_only_that_publication(lane_engine):
    published: list[CheckpointLog] = []
    observers.observe("lane.published.v1", "DocumentRefused", name="test-published")(published.append)
    try:
        lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
        lane_engine.start("ingest", {"text": " "}, "doc-2")
        assert reader("test-published").poll() == 2
    finally:
        observers.unregister("test-published")
    assert [e.checkpoint_type for e in published] == ["DocumentPublished", "DocumentRefused"]


def test_a_tap_on_a_step_that_fails_sees_the_value_and_the_observer_never_does(lane_engine, seen, monkeypatch):
    tapped: list[observers.TapEvent] = []
    untap = observers.tap("ingest", "receive", tapped.append)

    def insert_fails(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writes, "insert", insert_fails)
    before = all_insert_only_counts()
    try:
        execution = lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
    finally:
        untap()
    assert execution.first.status == "failed"
    assert [(e.step, e.values[0].type, e.values[0].fields["text"]) for e in tapped] == [
        ("receive", "DocumentReceived", "alpha")
    ]
    assert CheckpointLog.objects.count() == before["pipelines.CheckpointLog"] == 0
    assert reader().poll() == 0 and seen == []


def test_a_tap_sees_work_a_per_pipeline_transaction_later_rolls_back(seen):
    lane.FAILURES.clear()
    lane.FAILURES["tokenize"] = "bug"
    tapped: list[str] = []
    untap = observers.tap("ingest", "receive", lambda event: tapped.append(event.values[0].type))
    try:
        execution = Engine(lane.COMPOSITION, atomicity="pipeline").start("ingest", {"text": "alpha"}, "doc-1")
    finally:
        untap()
        lane.FAILURES.clear()
    assert execution.failures()[0].step == "tokenize"
    assert tapped == ["DocumentReceived"]
    assert CheckpointLog.objects.count() == 0
    assert reader().poll() == 0 and seen == []


def test_a_failing_tap_is_logged_and_never_fails_the_step(lane_engine, seen):
    def broken(event):
        raise ValueError("tap bug")

    untap = observers.tap("ingest", "receive", broken)
    try:
        execution = lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
    finally:
        untap()
    assert [r.status for r in execution.results] == ["inserted"] * 4
    assert reader().poll() == 4


def insert_log_entry(seq_holder: list[int], release: threading.Event, committed: threading.Event) -> None:
    """A transaction that takes a log seq, then holds it open until ``release`` (an in-flight gap)."""
    try:
        with transaction.atomic():
            entry = log_entry()
            seq_holder.append(entry.seq)
            release.wait(10)
        committed.set()
    finally:
        connections.close_all()


def log_entry() -> CheckpointLog:
    trace_id = uuid.uuid4()
    return CheckpointLog.objects.create(
        checkpoint_type="Probe",
        checkpoint_id=uuid.uuid4(),
        trace_id=trace_id,
        trace_number=traces.numbers([trace_id])[trace_id],
        trace_created_at=traces.stamps([trace_id])[trace_id][1],
        pipeline="probe",
        step="probe",
        created_at=timezone.now(),
    )


@pytest.mark.postgres
def test_a_reader_waits_at_an_in_flight_gap_and_delivers_in_log_order_once_it_commits(seen):
    if connection.vendor != "postgresql":
        pytest.skip("in-flight gaps need concurrent writers: PostgreSQL (SQLite serializes writers)")
    first = log_entry()
    seqs: list[int] = []
    release, committed = threading.Event(), threading.Event()
    holder = threading.Thread(target=insert_log_entry, args=(seqs, release, committed))
    holder.start()
    while not seqs:
        threading.Event().wait(0.01)
    later = log_entry()  # committed, but its seq is after the open one
    now = [1000.0]
    poller = reader(gap_timeout=5, clock=lambda: now[0])
    assert poller.poll() == 1  # only `first`: the reader stops at the gap
    now[0] += 1
    assert poller.poll() == 0
    release.set()
    committed.wait(10)
    holder.join(10)
    assert poller.poll() == 2
    assert [e.seq for e in seen] == [first.seq, seqs[0], later.seq]


@pytest.mark.postgres
def test_a_gap_that_never_commits_is_skipped_after_the_timeout_and_a_late_commit_is_still_delivered_once(seen):
    if connection.vendor != "postgresql":
        pytest.skip("in-flight gaps need concurrent writers: PostgreSQL (SQLite serializes writers)")
    first = log_entry()
    now = [1000.0]
    poller = reader(gap_timeout=5, clock=lambda: now[0])
    assert poller.poll() == 1
    seqs: list[int] = []
    release, committed = threading.Event(), threading.Event()
    holder = threading.Thread(target=insert_log_entry, args=(seqs, release, committed))
    holder.start()
    while not seqs:
        threading.Event().wait(0.01)
    after = log_entry()
    assert poller.poll() == 0
    now[0] += 6  # the gap timed out: skipped, remembered as skipped
    assert poller.poll() == 1
    assert ObserverPosition.objects.get(name="test-all").skipped[-1][:2] == [seqs[0], seqs[0]]
    release.set()
    committed.wait(10)
    holder.join(10)
    restarted = reader(gap_timeout=5, clock=lambda: now[0])
    assert restarted.poll() == 1  # delivered late, out of order
    assert restarted.poll() == 0
    assert reader(gap_timeout=5, clock=lambda: now[0]).poll() == 0  # and never again after another restart
    assert [e.seq for e in seen] == [first.seq, after.seq, seqs[0]]


def test_an_atomic_observer_moves_its_position_with_its_own_writes(lane_engine):
    calls: list[int] = []

    def fails_on_second(entry):
        calls.append(entry.seq)
        if len(calls) == 2:
            raise RuntimeError("observer bug")

    observers.observe(name="test-atomic", atomic=True)(fails_on_second)
    try:
        lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
        with pytest.raises(RuntimeError):
            reader("test-atomic").poll()
        first_seq = CheckpointLog.objects.order_by("seq").first().seq
        assert ObserverPosition.objects.get(name="test-atomic").seq == first_seq
        assert reader("test-atomic").poll() == 3  # the failed entry again, then the rest
    finally:
        observers.unregister("test-atomic")
    assert calls[1] == calls[2]


def test_the_runner_wakes_waiting_readers_after_commit(lane_engine):
    count = observers.commit_count()
    lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
    assert observers.commit_count() >= count + 4
    assert observers.wait_for_commit(count, 0.01) == observers.commit_count()


def test_run_delivers_until_stopped(lane_engine, seen):
    lane_engine.start("ingest", {"text": "alpha"}, "doc-1")
    stop = threading.Event()
    loop = threading.Thread(target=observers.run, args=(stop, ["test-all"]), kwargs={"poll_interval": 0.05})
    loop.start()
    try:
        for _ in range(200):
            if len(seen) == 4:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        loop.join(5)
    assert [e.checkpoint_id for e in seen] == log_order()


@pytest.mark.postgres
def test_a_new_observer_starts_at_the_oldest_entry_and_still_gets_one_that_commits_late(seen):
    if connection.vendor != "postgresql":
        pytest.skip("in-flight gaps need concurrent writers: PostgreSQL (SQLite serializes writers)")
    seqs: list[int] = []
    release, committed = threading.Event(), threading.Event()
    holder = threading.Thread(target=insert_log_entry, args=(seqs, release, committed))
    holder.start()
    while not seqs:
        threading.Event().wait(0.01)
    after = log_entry()
    poller = reader(gap_timeout=5)
    assert poller.poll() == 1  # no wait: a new observer skips to the oldest visible entry
    release.set()
    committed.wait(10)
    holder.join(10)
    assert poller.poll() == 1
    assert [e.seq for e in seen] == [after.seq, seqs[0]]
