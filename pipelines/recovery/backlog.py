"""Backlog figures for ``/metrics`` (dead letters, waiting, paused and overdue parked items per pipeline and
step, how long ago the sweeper last ran, and the queue mode's hand-offs not consumed yet per pipeline), and the
backlog bound that admission enforces (``admit``).

Computed from the database when scraped (a collector), so every process reports the same truth. They are figures
for dashboards and alerts, never a readiness signal: ``/readyz`` stays about this instance (database, broker).
They read ``OpenParked`` (the open failures, kept by triggers) and ``QueuedHandoff`` (the hand-offs not consumed),
so a scrape costs what is open, not the history, and a dead letter counts until ops end it, however old.

The bound: while ``TPFGO_BACKLOG_BOUND`` parked items wait (retrying, or held at a paused step), or while a
pipeline downstream of the new work has ``TPFGO_QUEUE_BACKLOG_BOUND`` hand-offs published to its queue and not
consumed (``pipelines.engine.queues``), new work is refused with ``RESOURCE_EXHAUSTED`` (429 with ``Retry-After``;
gRPC with ``RetryInfo``). Each count stops at its bound (its cost does not grow beyond it) and is reused for
``TPFGO_BACKLOG_CHECK_SECONDS`` per process.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterable

import structlog
from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef, QuerySet

from pipelines.contracts.status import ResourceExhausted
from pipelines.engine import metrics, queues
from pipelines.engine.registry import composition
from pipelines.models import (
    CheckpointLog,
    OpenParked,
    PausedItem,
    PauseRelease,
    QueuedHandoff,
    RetryClaim,
    RetryScheduled,
    SweepTick,
)
from pipelines.recovery import drain, resume
from pipelines.store import clock

log = structlog.get_logger("pipelines.backlog")

DEAD = "tpfgo_dead_letters"
OVERDUE = "tpfgo_parked_overdue"
WAITING = "tpfgo_parked_waiting"
PAUSED = "tpfgo_parked_paused"
SWEEP_AGE = "tpfgo_sweep_age_seconds"
HANDOFFS = "tpfgo_queue_handoffs_pending"
HANDOFF_AGE = "tpfgo_queue_handoff_oldest_seconds"

metrics.describe(DEAD, "gauge", "Dead-lettered items waiting for ops, per pipeline and step.")
metrics.describe(
    OVERDUE, "gauge", "Parked items whose next attempt is due for longer than the sweep grace period and unclaimed."
)
metrics.describe(
    WAITING, "gauge", "Parked items waiting (for a retry, or held at a paused step), per pipeline and step."
)
metrics.describe(PAUSED, "gauge", "Items held at a paused step and not released yet, per pipeline and step.")
metrics.describe(
    SWEEP_AGE,
    "gauge",
    "Seconds since the last sweep started (its SweepTick); before the first sweep, since the first checkpoint was "
    "logged; absent while neither exists.",
)
metrics.describe(
    HANDOFFS, "gauge", "Hand-offs published to a queued pipeline and not consumed yet (QueuedHandoff), per pipeline."
)
metrics.describe(
    HANDOFF_AGE, "gauge", "Seconds since the oldest hand-off a queued pipeline has not consumed was published."
)


def _grouped(items: QuerySet[OpenParked]) -> Iterable[tuple[str, str, int]]:
    rows = items.values("pipeline", "step").annotate(n=Count("parked_id")).order_by("pipeline", "step")
    return [(row["pipeline"], row["step"], row["n"]) for row in rows]


def collect(now: datetime.datetime | None = None) -> list[metrics.Sample]:
    """The figures at ``now``: the database's clock unless given, which the due times, sweep slots and hand-offs
    they are read from are written with (a node whose clock was ahead reported every retry overdue)."""
    now = now or clock.now()
    waiting = OpenParked.objects.filter(dead_at__isnull=True)
    late = now - resume.grace()
    # An attempt a paused step holds runs when the drain releases it, not when it was scheduled: it is overdue only
    # once its release is due and unclaimed (as the sweeper's lost-message pass reads it), never while it is held.
    due = RetryScheduled.objects.filter(parked=OuterRef("parked_id"), due_at__lte=late).filter(
        ~Exists(RetryClaim.objects.filter(parked=OuterRef("parked"), attempt=OuterRef("attempt"))),
        ~Exists(drain.held_attempt(OuterRef("parked"), OuterRef("attempt"))),
    )
    released = PauseRelease.objects.filter(hold__parked=OuterRef("parked_id"), due_at__lte=late).filter(
        ~Exists(RetryClaim.objects.filter(parked=OuterRef("hold__parked"), attempt=OuterRef("hold__attempt"))),
        ~Exists(PausedItem.objects.filter(parked=OuterRef("hold__parked"), created_at__gt=OuterRef("created_at"))),
    )
    held = PausedItem.objects.filter(parked=OuterRef("parked_id")).filter(
        ~Exists(PauseRelease.objects.filter(hold=OuterRef("pk")))
    )
    samples: list[metrics.Sample] = []
    for name, queryset in (
        # A dead letter whose redrive a paused step holds waits for the resume, not for ops: held, as the console
        # counts it (and a second redrive of it is refused).
        (DEAD, OpenParked.objects.filter(dead_at__isnull=False).exclude(Exists(held))),
        (WAITING, waiting),
        (PAUSED, OpenParked.objects.filter(Exists(held))),
        (OVERDUE, waiting.filter(Exists(due) | Exists(released))),
    ):
        samples += [(name, {"pipeline": p, "step": s}, float(n)) for p, s, n in _grouped(queryset)]
    last = SweepTick.objects.order_by("-tick").values_list("created_at", flat=True).first()  # the unique index's end
    if last is None:  # no sweep ever ran: the work since the first checkpoint waits for one (no beat was started)
        last = CheckpointLog.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if last is not None:
        samples.append((SWEEP_AGE, {}, max(0.0, (now - last).total_seconds())))
    return samples + _handoffs(now)


def _handoffs(now: datetime.datetime) -> list[metrics.Sample]:
    """Per pipeline, the hand-offs its queue has not consumed and the age of the oldest: a count for every pipeline
    in queue mode (0 when its queue is drained), an age only while one waits. A pipeline that left queue mode
    with rows still pending keeps its figures until they are consumed."""
    pending: dict[str, tuple[int, datetime.datetime | None]] = {
        p: (0, None) for p in queues.in_force(composition()).pipelines
    }
    rows = QueuedHandoff.objects.values("pipeline").annotate(n=Count("id"), oldest=Min("created_at"))
    pending.update((row["pipeline"], (row["n"], row["oldest"])) for row in rows)
    samples: list[metrics.Sample] = []
    for pipeline, (count, oldest) in sorted(pending.items()):
        samples.append((HANDOFFS, {"pipeline": pipeline}, float(count)))
        if oldest is not None:
            samples.append((HANDOFF_AGE, {"pipeline": pipeline}, max(0.0, (now - oldest).total_seconds())))
    return samples


def safe_collect() -> list[metrics.Sample]:
    """A scrape must answer even when the database does not: the figures are then left out."""
    try:
        return collect()
    except Exception as exc:  # noqa: BLE001  (the scrape's outer boundary: other figures must still render)
        log.warning("backlog.unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
        return []


def register() -> None:
    metrics.register_collector(safe_collect)


class BacklogFull(ResourceExhausted):
    """New work refused at the backlog bound; transports add ``Retry-After`` / ``RetryInfo``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueBacklogFull(BacklogFull):
    """New work refused: a pipeline downstream of it has too many hand-offs waiting in its queue."""

    def __init__(self, message: str, retry_after: float, pipeline: str) -> None:
        super().__init__(message, retry_after)
        self.pipeline = pipeline


class _Waiting:
    """This process's count of waiting parked items, up to the bound, read at most once per check period."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.expires = -1.0

    def get(self, bound: int) -> int:
        if time.monotonic() >= self.expires:
            with self.lock:
                if time.monotonic() >= self.expires:
                    self.count = OpenParked.objects.filter(dead_at__isnull=True)[:bound].count()
                    self.expires = time.monotonic() + check_seconds()
        return self.count

    def clear(self) -> None:
        self.expires = -1.0


_waiting = _Waiting()


def check_seconds() -> float:
    return float(getattr(settings, "TPFGO_BACKLOG_CHECK_SECONDS", 2))


def forget() -> None:
    """Count again at the next admission (tests; a process that just released many items)."""
    _waiting.clear()
    queues.forget()


def admit(source: str | None = None) -> None:
    """Refuse new work while a backlog bound is reached (``RESOURCE_EXHAUSTED``): nothing is stored. ``source`` is
    the pipeline the new work starts; the queue bound then counts the queues of the pipelines downstream of it only
    (all queues without it)."""
    bound = int(getattr(settings, "TPFGO_BACKLOG_BOUND", 0))
    if bound > 0:
        waiting = _waiting.get(bound)
        if waiting >= bound:
            raise BacklogFull(
                f"{waiting} parked items are waiting (retrying, or held at a paused step): the backlog bound "
                f"({bound}) is reached; retry later",
                retry_after=max(1.0, check_seconds()),
            )
    queue_bound = int(getattr(settings, "TPFGO_QUEUE_BACKLOG_BOUND", 0))
    modes = queues.in_force(composition())
    if queue_bound <= 0 or not modes.pipelines:
        return
    after = modes.after.get(source, ()) if source else modes.pipelines
    full = queues.over_bound(after, queue_bound, check_seconds())
    if full is not None:
        pipeline, count = full
        raise QueueBacklogFull(
            f"{count} hand-offs wait in the queue of pipeline '{pipeline}' ({queues.queue_name(pipeline)}): the "
            f"queue backlog bound ({queue_bound}) is reached; retry later",
            retry_after=max(1.0, check_seconds()),
            pipeline=pipeline,
        )
