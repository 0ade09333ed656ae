"""Delivery modes: which publications hand off through a queue, the queue per pipeline, publishing and consuming.

A publication in ``queue`` mode (declared on the ``Publication``, overridden by ``TPFGO_PUBLICATION_MODES``) hands
its checkpoint to each subscriber pipeline through a Celery message on that pipeline's own queue
(``tpfgo.<pipeline>``) instead of running the pipeline in the publishing process. The message only says "checkpoint
<type, id> of trace <id> is ready for <pipeline>": the checkpoint row is the outbox. Beside it a ``QueuedHandoff``
row per (checkpoint, subscriber) records that it was published and not consumed yet; the worker deletes it after
the pipeline ran. Those rows are the queue backlog admission bounds (measured in the database, never the broker),
the pipelines the order view shows in progress, and what the sweeper sends again when a message was lost.

A message delivered twice inserts nothing: a copy whose hand-off is closed runs nothing, and two copies at once
run one after the other, the later a replay by the engine's deterministic ids (``pipelines.engine.consuming``;
docs/architecture.md, "Delivery modes").
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils.module_loading import import_string

from pipelines.contracts import ids
from pipelines.contracts.declarations import Composition
from pipelines.contracts.modes import SETTING, Modes, resolve
from pipelines.models import Checkpoint, QueuedHandoff
from pipelines.store import clock
from pipelines.store.store import store

log = structlog.get_logger("pipelines.queues")

PREFIX = "tpfgo."
CONSUME = "pipelines.engine.consuming.consume"  # the worker's side, named: it runs the engine, which publishes here


def queue_name(pipeline: str) -> str:
    """The Celery queue a pipeline's hand-offs are sent to."""
    return f"{PREFIX}{pipeline}"


# -- modes ------------------------------------------------------------------------------------------------------
_last: tuple[Composition | None, object, Modes | None] = (None, None, None)


def in_force(comp: Composition) -> Modes:
    """``resolve`` for the composition and the setting in force, computed once per process and value (the sync
    path's cost is an attribute read and two comparisons: docs/performance.md)."""
    global _last
    raw = getattr(settings, SETTING, "")
    found, seen, modes = _last
    if found is comp and seen == raw and modes is not None:
        return modes
    modes = resolve(comp, str(raw or ""))
    _last = (comp, raw, modes)
    return modes


def queue_names(comp: Composition, app: Any = None) -> list[str]:
    """Every queue a worker started without ``-Q`` consumes: the default queue (retries, resumes, the drain of a
    pause), the timers' queue (``TPFGO_TIMERS_QUEUE``: the sweep, the deadline pass and the release of what fell due,
    routed there by ``CELERY_TASK_ROUTES``), then one per pipeline a queued publication feeds."""
    if app is None:
        from celery import current_app

        app = current_app
    return [
        app.conf.task_default_queue,
        settings.TPFGO_TIMERS_QUEUE,
        *(queue_name(p) for p in in_force(comp).pipelines),
    ]


# -- Celery's queues --------------------------------------------------------------------------------------------
def amqp(broker_url: str | None) -> bool:
    return (broker_url or "").split("://", 1)[0] in {"amqp", "amqps", "pyamqp"}


def declare(app: Any, comp: Composition) -> None:
    """Give the Celery app its queues (``task_queues``): a worker without ``-Q`` consumes them all. On an AMQP broker
    they are quorum queues (``x-queue-type: quorum``; no priorities). Queues the settings declare are kept."""
    from kombu.entity import Queue

    conf = app.conf
    arguments = {"x-queue-type": "quorum"} if amqp(conf.broker_url) else None
    declared = list(conf.task_queues or ())
    have = {q.name for q in declared}
    for name in queue_names(comp, app):
        if name not in have:
            declared.append(Queue(name, routing_key=name, queue_arguments=arguments))  # type: ignore[no-untyped-call]
    conf.task_queues = declared


# -- publishing -------------------------------------------------------------------------------------------------
def handoff_id(checkpoint_id: uuid.UUID, pipeline: str) -> uuid.UUID:
    return ids.deterministic_id("queued-handoff", f"{checkpoint_id}:{pipeline}")


def hand_off(publication: str, checkpoint: Checkpoint, pipelines: Sequence[str]) -> None:
    """Record the hand-offs of a committed checkpoint, and send their messages once the caller's transaction
    commits. Neither may fail the caller: its checkpoint is stored, and the sweeper hands off what is lost."""
    record_and_send(rows_for(publication, checkpoint, pipelines))


def rows_for(publication: str, checkpoint: Checkpoint, pipelines: Sequence[str]) -> list[QueuedHandoff]:
    """The hand-offs' rows, sent when inserted by the database's clock: the sweeper that sends one again, on
    whichever node beat leads, compares its ``sent_at`` with that clock (``resend_lost``)."""
    return [
        QueuedHandoff(
            id=handoff_id(checkpoint.pk, pipeline),
            pipeline=pipeline,
            publication=publication,
            trace_id=checkpoint.trace_id,
            checkpoint_type=type(checkpoint).__name__,
            checkpoint_id=checkpoint.pk,
            created_at=clock.stamp(),
            sent_at=clock.stamp(),
        )
        for pipeline in pipelines
    ]


def record_and_send(rows: list[QueuedHandoff]) -> None:
    """One insert for the hand-offs (a batch's too), their messages after the caller's commit."""
    try:
        QueuedHandoff.objects.bulk_create(rows, ignore_conflicts=True)
    except DatabaseError:  # the checkpoint log is the outbox: the sweeper's partial-progress pass finds them
        log.exception("handoff.record_failed", handoffs=len(rows), checkpoint_id=str(rows[0].checkpoint_id))
    transaction.on_commit(lambda: send(rows))


def send(rows: Iterable[QueuedHandoff]) -> None:
    """Publish one message per hand-off (``TPFGO_HANDOFF_SEND``; empty: consume here and now, no broker)."""
    hook = getattr(settings, "TPFGO_HANDOFF_SEND", "pipelines.tasks.send_handoff")
    if hook:
        store.durable()  # a message names a checkpoint: it leaves only once the checkpoint is durable
    for row in rows:
        args = (row.pipeline, row.checkpoint_type, str(row.checkpoint_id), str(row.trace_id))
        if not hook:
            import_string(CONSUME)(*args)
            continue
        try:
            import_string(hook)(*args)
        except Exception:  # a broker down must not fail a committed request: the sweeper sends it again
            log.exception("handoff.send_failed", pipeline=row.pipeline, checkpoint_id=str(row.checkpoint_id))


def resend(publication: str, checkpoint: Checkpoint, pipeline: str) -> str:
    """Hand a stalled position's checkpoint to ``pipeline``'s queue (the sweeper's partial-progress pass): nothing
    when its hand-off is still pending (the resend pass owns it), else recorded and sent now."""
    if QueuedHandoff.objects.filter(pk=handoff_id(checkpoint.pk, pipeline)).exists():
        return "queued"
    hand_off(publication, checkpoint, [pipeline])
    return "requeued"


def resend_lost(
    now: datetime.datetime, limit: int, *, dry_run: bool = False, deep: Callable[[str], object] | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Send again every pending hand-off not sent for ``TPFGO_QUEUE_RESEND_SECONDS`` (its message lost, or waiting
    behind a long backlog: a second message is a replay). Each row is claimed by moving its ``sent_at``.

    ``deep(queue)`` true: the queue is deep, so the hand-off's first message may still wait in it; such a hand-off
    is held (neither sent nor claimed). Returns the hand-offs sent and those held."""
    due = QueuedHandoff.objects.filter(sent_at__lte=now - resend_after()).order_by("sent_at")[:limit]
    sent: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    for row in due:
        if deep is not None and deep(queue_name(row.pipeline)):
            held.append((str(row.trace_id), row.pipeline))
            continue
        if not dry_run:
            claimed = QueuedHandoff.objects.filter(pk=row.pk, sent_at=row.sent_at).update(sent_at=now)
            if not claimed:  # consumed meanwhile, or another sweeper sent it
                continue
            send([row])
        sent.append((str(row.trace_id), row.pipeline))
    return sent, held


def resend_after() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(getattr(settings, "TPFGO_QUEUE_RESEND_SECONDS", 600)))


# -- consuming (the worker's side: ``pipelines.engine.consuming``) ---------------------------------------------------
def consumed(checkpoint_id: str, pipeline: str) -> None:
    """Close a hand-off: its pipeline ran (or had nothing to run)."""
    QueuedHandoff.objects.filter(pk=handoff_id(uuid.UUID(checkpoint_id), pipeline)).delete()


def pending(checkpoint_id: str, pipeline: str) -> bool:
    """Whether a hand-off is still open: not consumed, nor closed as missing."""
    return QueuedHandoff.objects.filter(pk=handoff_id(uuid.UUID(checkpoint_id), pipeline)).exists()


def in_progress(trace_id: uuid.UUID) -> list[str]:
    """The pipelines of a trace handed to their queue and not consumed yet (the order view shows them)."""
    rows = QueuedHandoff.objects.filter(trace_id=trace_id).order_by("created_at", "pipeline")
    return list(dict.fromkeys(rows.values_list("pipeline", flat=True)))


# -- the backlog ------------------------------------------------------------------------------------------------
class _Pending:
    """This process's count of pending hand-offs per pipeline, up to the bound, read at most once per period."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, tuple[int, float]] = {}

    def get(self, pipeline: str, bound: int, period: float) -> int:
        found = self.counts.get(pipeline)
        if found is not None and time.monotonic() < found[1]:
            return found[0]
        with self.lock:
            count = QueuedHandoff.objects.filter(pipeline=pipeline)[:bound].count()
            self.counts[pipeline] = (count, time.monotonic() + period)
        return count

    def clear(self) -> None:
        self.counts.clear()


_pending = _Pending()


def forget() -> None:
    """Count again at the next admission (tests)."""
    _pending.clear()


def over_bound(pipelines: Iterable[str], bound: int, period: float) -> tuple[str, int] | None:
    """The first of ``pipelines`` whose queue backlog reached ``bound``, with its count (stopped there)."""
    for pipeline in pipelines:
        count = _pending.get(pipeline, bound, period)
        if count >= bound:
            return pipeline, count
    return None
