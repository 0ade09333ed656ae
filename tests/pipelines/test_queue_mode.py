"""Queue-async publication on the test lane: modes and their override, the outbox row, a worker's consumption,
redelivery, lost messages found by the sweeper, the queue backlog bound, and ``manage.py queues``.

Messages are captured at the process edge (``TPFGO_HANDOFF_SEND``); the real worker on Redis and RabbitMQ is in
``tests/integration/test_queue_worker.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import uuid

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from pipelines.contracts.declarations import Publication
from pipelines.contracts.modes import ModesInvalid, parse, resolve
from pipelines.engine import consuming, metrics, queues
from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, QueuedHandoff, Resumption
from pipelines.recovery import backlog, resends, sweeper
from pipelines.store import clock
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished

pytestmark = pytest.mark.django_db

SENT: list[tuple[str, str, str, str]] = []
INDEXED = "lane.indexed.v1"


def capture(pipeline: str, checkpoint_type: str, checkpoint_id: str, trace_id: str) -> None:
    SENT.append((pipeline, checkpoint_type, checkpoint_id, trace_id))


def broker_down(*args: str) -> None:
    raise ConnectionError("broker unreachable")


@pytest.fixture(autouse=True)
def queued(settings, lane_composition):
    SENT.clear()
    settings.TPFGO_PUBLICATION_MODES = f"{INDEXED}=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.capture"
    settings.TPFGO_RESUME_ENQUEUE = ""  # the sweeper's resumes run here
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    settings.TPFGO_SWEEP_WINDOW_SECONDS = 3600
    settings.TPFGO_QUEUE_RESEND_SECONDS = 600
    yield
    lane.FAILURES.clear()


def later(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def place(key: str = "doc-1", text: str = "a b", *, commit: bool = True, capture_commits=None):
    engine = Engine(lane.COMPOSITION)
    if capture_commits is None:
        return engine.start("ingest", {"text": text}, key)
    with capture_commits(execute=commit):
        return engine.start("ingest", {"text": text}, key)


# -- modes ----------------------------------------------------------------------------------------------------
def test_a_publication_is_sync_unless_declared_or_overridden():
    assert Publication("x.v1", DocumentIndexed, ("docId",)).mode == "sync"
    assert resolve(lane.COMPOSITION, "").queued == frozenset()
    declared = dataclasses.replace(
        lane.COMPOSITION,
        pipelines=(
            dataclasses.replace(lane.INGEST, output=dataclasses.replace(lane.INDEXED, mode="queue")),
            *lane.COMPOSITION.pipelines[1:],
        ),
    )
    assert resolve(declared, "").queued == {INDEXED}
    assert resolve(declared, f"{INDEXED}=sync").queued == frozenset()  # the deployment's override wins


def test_star_queues_every_subscribed_publication_and_a_name_beats_it():
    assert resolve(lane.COMPOSITION, "*=queue") == resolve(lane.COMPOSITION, f"{INDEXED}=queue")
    assert resolve(lane.COMPOSITION, "*=queue").pipelines == ("publish",)
    assert resolve(lane.COMPOSITION, f"*=queue, {INDEXED}=sync").queued == frozenset()


@pytest.mark.parametrize(
    "raw, message",
    [
        ("lane.indexed.v1", "entry 'lane.indexed.v1' is not name=mode"),
        ("lane.indexed.v1=async", "the mode 'async', which is not a delivery mode"),
        ("a=queue,a=sync", "names 'a' 2 times"),
    ],
)
def test_an_unreadable_override_is_a_clear_error(raw, message):
    with pytest.raises(ModesInvalid, match=message):
        parse(raw)
    assert issubclass(ModesInvalid, ImproperlyConfigured)


# -- publishing: the outbox row and one message per subscriber, after commit ----------------------------------------
def test_a_queued_publication_runs_its_subscriber_nowhere_but_sends_one_message_after_commit(
    django_capture_on_commit_callbacks,
):
    execution = place(capture_commits=django_capture_on_commit_callbacks)

    indexed = DocumentIndexed.objects.get()
    assert [r.pipeline for r in execution.results] == ["ingest", "ingest", "ingest"]  # publish did not run here
    assert DocumentPublished.objects.count() == 0
    assert SENT == [("publish", "DocumentIndexed", str(indexed.pk), str(indexed.trace_id))]
    pending = QueuedHandoff.objects.get()
    assert (pending.pipeline, pending.publication, pending.checkpoint_id) == ("publish", INDEXED, indexed.pk)
    assert queues.in_progress(indexed.trace_id) == ["publish"]


def test_no_message_leaves_before_the_transaction_commits(django_capture_on_commit_callbacks):
    place(commit=False, capture_commits=django_capture_on_commit_callbacks)
    assert SENT == []
    assert QueuedHandoff.objects.count() == 1  # the outbox row is there; the message waits for the commit


def test_a_sync_publication_runs_its_subscriber_in_the_callers_process(settings, django_capture_on_commit_callbacks):
    settings.TPFGO_PUBLICATION_MODES = ""
    place(capture_commits=django_capture_on_commit_callbacks)
    assert DocumentPublished.objects.count() == 1
    assert SENT == [] and QueuedHandoff.objects.count() == 0


# -- consuming: the worker's side -----------------------------------------------------------------------------------
def test_the_worker_runs_the_subscriber_and_a_second_delivery_inserts_nothing(django_capture_on_commit_callbacks):
    place(capture_commits=django_capture_on_commit_callbacks)
    message = SENT[0]

    assert consuming.consume(*message) == "inserted"
    assert DocumentPublished.objects.count() == 1
    assert QueuedHandoff.objects.count() == 0
    assert queues.in_progress(DocumentIndexed.objects.get().trace_id) == []
    counts = all_insert_only_counts()

    assert consuming.consume(*message) == "duplicate"  # delivered twice (a redelivery, a re-send): runs nothing
    assert all_insert_only_counts() == counts


def test_a_replay_of_a_consumed_hand_offs_publisher_hands_nothing_off_again(django_capture_on_commit_callbacks):
    place(capture_commits=django_capture_on_commit_callbacks)
    consuming.consume(*SENT[0])
    SENT.clear()
    counts = all_insert_only_counts()

    execution = place(capture_commits=django_capture_on_commit_callbacks)  # a client's retry: every step replays

    assert {r.status.value for r in execution.results} == {"replayed"}
    assert SENT == [] and QueuedHandoff.objects.count() == 0  # its subscriber ran: no message, no open hand-off
    assert all_insert_only_counts() == counts


def test_a_replay_of_a_pending_hand_offs_publisher_sends_no_second_message(django_capture_on_commit_callbacks):
    place(capture_commits=django_capture_on_commit_callbacks)
    SENT.clear()
    place(capture_commits=django_capture_on_commit_callbacks)
    assert SENT == [] and QueuedHandoff.objects.count() == 1  # the first message is still the one to run


def test_a_batched_replay_hands_nothing_off_again(django_capture_on_commit_callbacks):
    batch = BatchEngine(lane.COMPOSITION)
    with django_capture_on_commit_callbacks(execute=True):
        batch.start_many("ingest", [({"text": "a b"}, "doc-1"), ({"text": "c"}, "doc-2")])
    assert len(SENT) == 2
    for message in SENT:
        consuming.consume(*message)
    SENT.clear()
    with django_capture_on_commit_callbacks(execute=True):
        batch.start_many("ingest", [({"text": "a b"}, "doc-1"), ({"text": "c"}, "doc-2")])
    assert SENT == [] and QueuedHandoff.objects.count() == 0


def test_a_message_for_a_checkpoint_that_is_gone_closes_its_hand_off():
    gone = str(uuid.uuid4())
    QueuedHandoff.objects.create(
        id=queues.handoff_id(uuid.UUID(gone), "publish"),
        pipeline="publish",
        publication=INDEXED,
        trace_id=gone,
        checkpoint_type="DocumentIndexed",
        checkpoint_id=gone,
        created_at=timezone.now(),
        sent_at=timezone.now(),
    )
    counts = all_insert_only_counts()
    assert consuming.consume("publish", "DocumentIndexed", gone, gone) == "missing"
    assert QueuedHandoff.objects.count() == 0 and all_insert_only_counts() == counts


def test_without_a_broker_the_hand_off_is_consumed_in_place(settings, django_capture_on_commit_callbacks):
    settings.TPFGO_HANDOFF_SEND = ""
    place(capture_commits=django_capture_on_commit_callbacks)
    assert DocumentPublished.objects.count() == 1 and QueuedHandoff.objects.count() == 0


# -- lost messages ------------------------------------------------------------------------------------------------
def test_a_broker_that_refuses_the_message_does_not_fail_the_caller_and_the_sweeper_sends_it_again(
    settings, django_capture_on_commit_callbacks
):
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.broker_down"
    execution = place(capture_commits=django_capture_on_commit_callbacks)
    assert execution.first.status.value == "inserted"
    assert QueuedHandoff.objects.count() == 1 and DocumentPublished.objects.count() == 0

    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.capture"
    assert sweeper.sweep(now=later(30)).handoffs == []  # within the resend grace
    report = sweeper.sweep(now=later(700))
    indexed = DocumentIndexed.objects.get()
    assert report.handoffs == [(str(indexed.trace_id), "publish")]
    assert (
        Resumption.objects.get(decision=Resumption.SKIPPED).detail == "settled: queued"
    )  # partial progress leaves it to the resend pass
    assert SENT == [("publish", "DocumentIndexed", str(indexed.pk), str(indexed.trace_id))]
    assert sweeper.sweep(now=later(700)).handoffs == []  # sent again once: its sent_at moved

    consuming.consume(*SENT[0])
    assert DocumentPublished.objects.count() == 1 and QueuedHandoff.objects.count() == 0
    assert sweeper.sweep(now=later(2000)).handoffs == []


def test_a_hand_off_published_on_a_node_whose_clock_is_behind_is_not_sent_again_before_its_resend_period(
    django_capture_on_commit_callbacks,
):
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=15), tick=False):  # the publishing node
        place(capture_commits=django_capture_on_commit_callbacks)
    assert len(SENT) == 1

    assert sweeper.sweep().handoffs == []  # before: sent 15 minutes ago by its node's clock, so sent again at once
    assert len(SENT) == 1
    database = clock.now()
    assert database - datetime.timedelta(seconds=5) < QueuedHandoff.objects.get().sent_at <= database


def test_behind_a_deep_queue_a_pending_hand_off_is_not_sent_again_until_the_queue_drains(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.broker_down"
    place(capture_commits=django_capture_on_commit_callbacks)
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.capture"
    indexed = DocumentIndexed.objects.get()
    (pending,) = QueuedHandoff.objects.all()
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = 5
    depths: list[str] = []
    monkeypatch.setattr(resends, "depth", lambda queue: depths.append(queue) or 8)  # the broker's answer

    report = sweeper.sweep(now=later(700))
    assert (report.handoffs, report.held) == ([], [("handoff", str(indexed.trace_id), "publish")])
    assert depths == [queues.queue_name("publish")] and SENT == []
    assert QueuedHandoff.objects.get().sent_at == pending.sent_at  # not claimed: the next sweep looks again

    monkeypatch.setattr(resends, "depth", lambda queue: 4)
    assert sweeper.sweep(now=later(710)).handoffs == [(str(indexed.trace_id), "publish")]
    assert SENT == [("publish", "DocumentIndexed", str(indexed.pk), str(indexed.trace_id))]


def test_the_sweep_command_names_a_held_hand_off(settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.TPFGO_HANDOFF_SEND = "tests.pipelines.test_queue_mode.broker_down"
    place(capture_commits=django_capture_on_commit_callbacks)
    settings.TPFGO_QUEUE_RESEND_SECONDS = 0  # due at once: the command sweeps at the real time
    settings.TPFGO_SWEEP_RESEND_HOLD_DEPTH = 5
    monkeypatch.setattr(resends, "depth", lambda queue: 5)
    out = io.StringIO()
    call_command("sweep", "--dry-run", stdout=out)
    trace = DocumentIndexed.objects.get().trace_id
    held = f"would hold trace {trace}'s pending hand-off to queue {queues.queue_name('publish')}: its queue is deep"
    assert [line for line in out.getvalue().splitlines() if "hold" in line] == [
        f"{held} (TPFGO_SWEEP_RESEND_HOLD_DEPTH)"
    ]


def test_a_hand_off_lost_before_its_row_was_written_is_found_in_the_checkpoint_log(
    django_capture_on_commit_callbacks,
):
    place(commit=False, capture_commits=django_capture_on_commit_callbacks)  # the process died after its commit
    QueuedHandoff.objects.all().delete()  # ... before it recorded the hand-off
    indexed = DocumentIndexed.objects.get()
    row = CheckpointLog.objects.get(checkpoint_id=indexed.pk)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweeper.sweep(now=later(120))

    assert report.resumes == [(str(indexed.trace_id), row.seq)]
    assert SENT == [("publish", "DocumentIndexed", str(indexed.pk), str(indexed.trace_id))]  # queued, not run here
    assert DocumentPublished.objects.count() == 0 and QueuedHandoff.objects.count() == 1
    settled = Resumption.objects.filter(trace_id=indexed.trace_id, seq=row.seq, decision=Resumption.SKIPPED)
    assert settled.get().detail == "settled: requeued"
    consuming.consume(*SENT[0])
    assert DocumentPublished.objects.count() == 1
    assert sweeper.sweep(now=later(240)).resumes == []


def test_a_position_whose_hand_off_is_pending_settles_without_a_second_message(django_capture_on_commit_callbacks):
    place(capture_commits=django_capture_on_commit_callbacks)
    SENT.clear()
    report = sweeper.sweep(now=later(120))  # stalled past the grace, but its message is waiting in the queue
    assert len(report.resumes) == 1 and SENT == []
    assert Resumption.objects.get(decision=Resumption.SKIPPED).detail == "settled: queued"


# -- the queue backlog bound ------------------------------------------------------------------------------------------
def test_admission_is_refused_while_a_downstream_queue_holds_its_bound(settings, django_capture_on_commit_callbacks):
    settings.TPFGO_QUEUE_BACKLOG_BOUND = 2
    place("doc-1", capture_commits=django_capture_on_commit_callbacks)
    backlog.admit("ingest")  # 1 pending: under the bound
    place("doc-2", capture_commits=django_capture_on_commit_callbacks)
    backlog.forget()
    counts = all_insert_only_counts()

    with pytest.raises(backlog.QueueBacklogFull) as refused:
        backlog.admit("ingest")
    assert refused.value.pipeline == "publish" and refused.value.retry_after >= 1
    assert "2 hand-offs wait in the queue of pipeline 'publish' (tpfgo.publish)" in str(refused.value)
    assert all_insert_only_counts() == counts
    backlog.admit("manual-publish")  # nothing downstream of it is queued
    assert refused.value.code == "RESOURCE_EXHAUSTED"

    consuming.consume(*SENT[0])
    with pytest.raises(backlog.QueueBacklogFull):
        backlog.admit("ingest")  # the count is reused for the check period
    backlog.forget()
    backlog.admit("ingest")  # 1 pending again


def handoff_figures(now: datetime.datetime) -> dict[tuple[str, str], float]:
    return {
        (name, labels["pipeline"]): value
        for name, labels, value in backlog.collect(now)
        if name in (backlog.HANDOFFS, backlog.HANDOFF_AGE)
    }


def test_metrics_give_each_queued_pipeline_its_pending_hand_offs_and_the_oldest_ones_age(
    django_capture_on_commit_callbacks,
):
    assert handoff_figures(timezone.now()) == {("tpfgo_queue_handoffs_pending", "publish"): 0.0}  # drained: no age

    place("doc-1", capture_commits=django_capture_on_commit_callbacks)
    place("doc-2", capture_commits=django_capture_on_commit_callbacks)
    first, second = QueuedHandoff.objects.order_by("created_at")
    assert handoff_figures(first.created_at + datetime.timedelta(seconds=90)) == {
        ("tpfgo_queue_handoffs_pending", "publish"): 2.0,
        ("tpfgo_queue_handoff_oldest_seconds", "publish"): 90.0,
    }

    consuming.consume(*next(m for m in SENT if m[2] == str(first.checkpoint_id)))  # the oldest is consumed
    assert handoff_figures(second.created_at + datetime.timedelta(seconds=30)) == {
        ("tpfgo_queue_handoffs_pending", "publish"): 1.0,
        ("tpfgo_queue_handoff_oldest_seconds", "publish"): 30.0,
    }
    text = metrics.render()
    assert "# TYPE tpfgo_queue_handoffs_pending gauge" in text
    assert 'tpfgo_queue_handoffs_pending{pipeline="publish"} 1.0' in text


def test_a_pipeline_out_of_queue_mode_has_no_figures_unless_hand_offs_still_wait(
    settings, django_capture_on_commit_callbacks
):
    place("doc-1", capture_commits=django_capture_on_commit_callbacks)
    settings.TPFGO_PUBLICATION_MODES = ""  # the deployment turned queue mode off; the published one still waits
    pending = QueuedHandoff.objects.get()
    assert handoff_figures(pending.created_at + datetime.timedelta(seconds=5)) == {
        ("tpfgo_queue_handoffs_pending", "publish"): 1.0,
        ("tpfgo_queue_handoff_oldest_seconds", "publish"): 5.0,
    }
    consuming.consume(*SENT[0])
    assert handoff_figures(timezone.now()) == {}


def test_the_queue_bound_reads_nothing_when_no_publication_is_queued(settings, django_assert_num_queries):
    settings.TPFGO_PUBLICATION_MODES = ""
    settings.TPFGO_BACKLOG_BOUND = 0
    settings.TPFGO_QUEUE_BACKLOG_BOUND = 1
    with django_assert_num_queries(0):
        backlog.admit("ingest")


# -- queues ---------------------------------------------------------------------------------------------------------
def test_manage_py_queues_prints_the_default_queue_the_timers_then_one_per_fed_pipeline(settings):
    out = io.StringIO()
    call_command("queues", stdout=out)
    assert out.getvalue().splitlines() == ["celery", "tpfgo-timers", "tpfgo.publish"]
    out = io.StringIO()
    call_command("queues", "--pipelines", stdout=out)
    assert out.getvalue().splitlines() == ["tpfgo.publish"]
    settings.TPFGO_PUBLICATION_MODES = "lane.indexed.v1=later"
    with pytest.raises(CommandError, match="not a delivery mode"):
        call_command("queues", stdout=io.StringIO())


@pytest.mark.parametrize(
    "broker, arguments",
    [("redis://127.0.0.1:6379/0", None), ("amqp://guest@127.0.0.1:5672//", {"x-queue-type": "quorum"})],
)
def test_the_celery_app_declares_every_queue_and_quorum_ones_on_amqp(broker, arguments, monkeypatch):
    from celery import Celery

    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to the app's own broker
    app = Celery("t", set_as_current=False, broker=broker)
    queues.declare(app, lane.COMPOSITION)
    declared = {q.name: q for q in app.conf.task_queues}
    assert list(declared) == ["celery", "tpfgo-timers", "tpfgo.publish"]
    assert all(q.queue_arguments == arguments and q.routing_key == q.name for q in declared.values())
    assert not any((q.queue_arguments or {}).get("x-max-priority") for q in declared.values())
