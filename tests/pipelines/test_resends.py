"""The sweeper sends lost work again on a doubling interval, not on every sweep (``pipelines.recovery.resends``)."""

from __future__ import annotations

import dataclasses
import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ParkedItem, Resumption, SweepDispatch
from pipelines.recovery import resends, sweeper
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.pipelines.test_step_metrics import delta, samples

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
    claim_locks_in_force, settings, monkeypatch
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

    # TPFGO_SWEEP_ORPHAN_SECONDS (60) after the claim; the message reached its worker, so no resend interval applies,
    # and nothing of it waits in the queue, however deep.
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = 1
    monkeypatch.setattr(resends, "depth", lambda queue: 100)
    assert sends_at([100, 120, 125], start, "resumes") == [125]
    assert SENT == [(str(stalled.trace_id), stalled.seq)] * 2


class Queue:
    """The broker's answer to ``resends.depth`` (the process edge): a depth the test sets, and the reads."""

    def __init__(self, depth: int | None) -> None:
        self.depth = depth
        self.reads: list[str] = []

    def __call__(self, queue: str) -> int | None:
        self.reads.append(queue)
        return self.depth


@pytest.fixture
def queue(settings, monkeypatch) -> Queue:
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = 5
    found = Queue(0)
    monkeypatch.setattr(resends, "depth", found)
    return found


def sweep_at(start: datetime.datetime, offset: int, **kwargs) -> sweeper.SweepReport:
    return sweeper.sweep(now=start + datetime.timedelta(seconds=offset), **kwargs)


def test_behind_a_deep_queue_a_lost_retry_is_held_until_the_queue_drains(lane_engine, settings, queue):
    parked = lost_retry(lane_engine, settings)
    start = timezone.now()
    counted = samples("tpfgo_sweep_actions_total")
    held = [("retry", str(parked.pk), 2)]

    queue.depth = 7  # its attempt's own message may be among them: no copy, nothing recorded
    assert [sweep_at(start, s).held for s in (60, 70)] == [held, held]
    assert SENT == [] and SweepDispatch.objects.filter(kind="retry").count() == 0
    queue.depth = 4  # below the bound: the copy goes out at once
    assert sweep_at(start, 80).reenqueued == [(str(parked.pk), 2)]
    queue.depth = 9
    assert sweep_at(start, 100).held == []  # not due again before 110 anyway: the queue is not read
    assert sweep_at(start, 110).held == held
    queue.depth = 5  # at the bound: still held
    assert sweep_at(start, 120).held == held
    queue.depth = 0
    assert sweep_at(start, 130).reenqueued == [(str(parked.pk), 2)]

    assert SENT == [(str(parked.pk), 2)] * 2
    assert list(SweepDispatch.objects.filter(kind="retry").order_by("send").values_list("send", flat=True)) == [1, 2]
    # Read once in each sweep that had a retry to send (60, 70, 80, 110, 120, 130); the position the parked item
    # stopped on is settled in the sweep, so no resume is sent for it.
    assert queue.reads == ["celery"] * 6
    assert SweepDispatch.objects.filter(kind="resume").count() == 0
    assert delta(counted, "tpfgo_sweep_actions_total") == {("held",): 4, ("reenqueued",): 2}


def test_a_positions_first_resume_goes_out_behind_a_deep_queue_and_its_copies_are_held(queue):
    Engine(dataclasses.replace(lane.COMPOSITION, subscriptions=())).start("ingest", {"text": "a b"}, "doc-1")
    stalled = CheckpointLog.objects.get(checkpoint_type="DocumentIndexed")
    start = timezone.now()
    queue.depth = 50

    assert sweep_at(start, 60).resumes == [(str(stalled.trace_id), stalled.seq)]  # a crash left it: nothing waits
    assert queue.reads == []
    assert [sweep_at(start, s).held for s in (90, 150)] == [[("resume", str(stalled.trace_id), stalled.seq)]] * 2
    queue.depth = 1
    assert sweep_at(start, 160).resumes == [(str(stalled.trace_id), stalled.seq)]
    assert SENT == [(str(stalled.trace_id), stalled.seq)] * 2
    assert SweepDispatch.objects.count() == 2


def test_a_dry_run_reports_the_held_sends_and_a_broker_without_an_answer_holds_nothing(lane_engine, settings, queue):
    parked = lost_retry(lane_engine, settings)
    start = timezone.now()
    queue.depth = 7
    before, counted = all_insert_only_counts(), samples("tpfgo_sweep_actions_total")
    dry = sweep_at(start, 60, dry_run=True)
    assert (dry.reenqueued, dry.held) == ([], [("retry", str(parked.pk), 2)])
    assert all_insert_only_counts() == before
    assert delta(counted, "tpfgo_sweep_actions_total") == {}  # a dry run counts nothing

    queue.depth = None  # the broker did not say: the send goes out (and meets the broker's own answer)
    assert sweep_at(start, 60).reenqueued == [(str(parked.pk), 2)]
    assert SENT == [(str(parked.pk), 2)]


def test_with_the_bound_at_zero_the_queue_is_never_read(lane_engine, settings, queue):
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = 0
    parked = lost_retry(lane_engine, settings)
    queue.depth = 10_000
    assert sweep_at(timezone.now(), 60).reenqueued == [(str(parked.pk), 2)]
    assert queue.reads == []


def test_the_sweep_command_names_each_held_send(lane_engine, settings, queue):
    settings.TPFGO_SWEEP_GRACE_SECONDS = 0  # overdue at once: the command sweeps at the real time
    parked = lost_retry(lane_engine, settings)
    queue.depth = 6
    out = io.StringIO()
    call_command("sweep", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    held = (
        f"would hold the retry of parked item {parked.pk}, attempt 2: its queue is deep (TPFGO_SWEEP_RESEND_HOLD_DEPTH)"
    )
    assert [line for line in lines if "hold" in line] == [held]
    # The trace's position waits on its parked item: skipped, as the command says.
    summary = "reenqueued 0, rescheduled 0, dead_lettered 0, resumes 0, aux_branches 0, handoffs 0, held 1, skipped 1"
    assert lines[-1] == f"dry run: {summary}"
