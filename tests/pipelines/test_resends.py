"""The sweeper sends lost work again on a doubling interval, not on every sweep (``pipelines.recovery.resends``)."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from django.utils import timezone

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ParkedItem, Resumption, SweepDispatch
from pipelines.recovery import resends, sweeper
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db

SENT: list[tuple[str, int]] = []
REFUSE = {"now": False}


def record_retry(parked_id, attempt, due) -> bool:
    if REFUSE["now"]:
        return False
    SENT.append((str(parked_id), attempt))
    return True


def record_resume(trace_id, seq) -> None:  # a hook that answers nothing counts as sent
    SENT.append((str(trace_id), seq))


@pytest.fixture(autouse=True)
def hooks(settings, lane_composition):
    SENT.clear()
    REFUSE["now"] = False
    settings.TPFGO_RETRY_ENQUEUE = "tests.pipelines.test_resends.record_retry"
    settings.TPFGO_RESUME_ENQUEUE = "tests.pipelines.test_resends.record_resume"
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = 300
    settings.TPFGO_SWEEP_RESEND_SECONDS = 30
    settings.TPFGO_SWEEP_RESEND_MAX_SECONDS = 100
    yield
    lane.FAILURES.clear()


def sends_at(offsets: list[int], start: datetime.datetime, report: str) -> list[int]:
    """Sweep at each offset (seconds after ``start``): the offsets at which the sweep sent the work."""
    at = []
    for offset in offsets:
        found = getattr(sweeper.sweep(now=start + datetime.timedelta(seconds=offset)), report)
        assert len(found) <= 1
        if found:
            at.append(offset)
    return at


def lost_retry(lane_engine, settings) -> ParkedItem:
    """A parked item whose attempt 2 is due now and whose message was lost."""
    settings.TPFGO_RESUME_ENQUEUE = ""  # its trace's position is resumed here: skipped, its item being parked
    lane.FAILURES["index"] = 1
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")
    parked = ParkedItem.objects.get()
    SENT.clear()  # the attempt's own message, sent when it was parked, is lost
    return parked


def test_intervals_double_from_the_first_up_to_the_longest(settings):
    assert [resends.interval(n).total_seconds() for n in (1, 2, 3, 4, 60)] == [30, 60, 100, 100, 100]
    settings.TPFGO_SWEEP_RESEND_SECONDS = None  # unset: the grace period, then up to the claim timeout
    settings.TPFGO_SWEEP_RESEND_MAX_SECONDS = None
    assert [resends.interval(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 300]


def test_a_lost_retry_is_sent_again_on_a_doubling_interval_not_on_every_sweep(lane_engine, settings):
    parked = lost_retry(lane_engine, settings)
    start = timezone.now()
    every_ten_seconds = list(range(0, 400, 10))  # due at once: overdue past the grace period at 60

    assert sends_at(every_ten_seconds, start, "reenqueued") == [60, 90, 150, 250, 350]
    assert SENT == [(str(parked.pk), 2)] * 5
    rows = SweepDispatch.objects.filter(kind="retry").order_by("send")
    assert [(r.kind, r.subject, r.number, r.send) for r in rows] == [("retry", parked.pk, 2, n) for n in range(1, 6)]
    assert [(r.resend_at - r.created_at).total_seconds() for r in rows] == [30, 60, 100, 100, 100]


def test_a_stalled_position_is_resumed_again_on_a_doubling_interval_not_on_every_sweep():
    Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=())).start("ingest", {"text": "a b"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    start = timezone.now()

    assert sends_at(list(range(0, 300, 10)), start, "resumes") == [60, 90, 150, 250]
    assert SENT == [(str(stalled.trace_id), stalled.seq)] * 4
    assert list(SweepDispatch.objects.order_by("send").values_list("kind", "send")) == [
        ("resume", n) for n in (1, 2, 3, 4)
    ]


def test_a_send_the_broker_refused_is_not_recorded_and_goes_out_on_the_next_sweep(lane_engine, settings):
    parked = lost_retry(lane_engine, settings)
    start = timezone.now()
    REFUSE["now"] = True
    assert sends_at([60, 70], start, "reenqueued") == []
    assert SweepDispatch.objects.filter(kind="retry").count() == 0

    REFUSE["now"] = False
    assert sends_at([80, 90, 100, 110], start, "reenqueued") == [80, 110]
    assert SENT == [(str(parked.pk), 2)] * 2


def test_a_dry_run_reports_what_is_due_and_records_nothing(lane_engine, settings):
    parked = lost_retry(lane_engine, settings)
    start = timezone.now()
    assert sends_at([60], start, "reenqueued") == [60]
    before = all_insert_only_counts()

    dry = sweeper.sweep(now=start + datetime.timedelta(seconds=70), dry_run=True)
    assert dry.reenqueued == []  # sent 10 s ago: not due again for 20 s
    dry = sweeper.sweep(now=start + datetime.timedelta(seconds=90), dry_run=True)
    assert dry.reenqueued == [(str(parked.pk), 2)]
    assert all_insert_only_counts() == before
    assert SENT == [(str(parked.pk), 2)]


def test_work_sent_recently_leaves_the_batch_to_the_work_behind_it(lane_engine, settings):
    settings.TPFGO_SWEEP_BATCH = 2
    settings.TPFGO_RESUME_ENQUEUE = ""
    for n in range(5):
        lane.FAILURES["index"] = 1
        lane_engine.start("ingest", {"text": "a"}, f"doc-{n}")
    SENT.clear()
    start = timezone.now()

    firsts = [len(sweeper.sweep(now=start + datetime.timedelta(seconds=s)).reenqueued) for s in (70, 75, 80, 85)]

    assert firsts == [2, 2, 1, 0]  # each sweep takes the next ones, not the same two again
    assert len(set(SENT)) == 5 and len(SENT) == 5


def test_positions_resumed_recently_leave_the_batch_to_the_positions_behind_them(settings):
    settings.TPFGO_SWEEP_BATCH = 2
    for n in range(5):
        Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=())).start("ingest", {"text": "a"}, f"doc-{n}")
    start = timezone.now()

    firsts = [len(sweeper.sweep(now=start + datetime.timedelta(seconds=s)).resumes) for s in (60, 65, 70, 75)]

    assert firsts == [2, 2, 1, 0]
    assert len(set(SENT)) == 5 and len(SENT) == 5


@pytest.mark.postgres
def test_a_resume_taken_up_and_died_is_sent_again_at_the_orphan_age_not_the_resend_interval(
    claim_locks_in_force, settings
):
    settings.TPFGO_SWEEP_RESEND_SECONDS = 600
    Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=())).start("ingest", {"text": "a"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    start = timezone.now()
    assert sends_at([60], start, "resumes") == [60]
    # A worker took the message up a second later and died: its claim stays, its lock is free.
    Resumption.objects.create(
        trace_id=stalled.trace_id,
        seq=stalled.seq,
        attempt=1,
        decision="resumed",
        worker="task-1@host-a",
        created_at=start + datetime.timedelta(seconds=61),
    )

    # TPFGO_SWEEP_ORPHAN_SECONDS (60) after the claim; the message reached its worker, so no resend interval applies.
    assert sends_at([100, 120, 125], start, "resumes") == [125]
    assert SENT == [(str(stalled.trace_id), stalled.seq)] * 2
