"""Deadlines on waits: every step that waits for an external event declares how long, and what runs after.

A step that answers ``AWAIT`` opens a wait (``WaitOpened``, its id deterministic from pipeline, step and input).
The wait has rounds: round ``n`` passes at ``deadline_of(opened_at, deadline, n)`` and runs the deadline's
``n``-th pipeline on the waiting input. Each round ends exactly once, in one unique ``WaitEnded`` row that the
event and the deadline race for:

- the event's side (``claim``): the runner, before it inserts the resumed step's checkpoint, inserts the round's
  row as ``resolved`` in the same transaction; if the deadline's row is there first, the event has lost;
- the deadline's side (``fire``): the beat task (``pipelines.expire_waits``) inserts the round's row as
  ``expired``, and only the process whose insert went in runs the round's pipeline. A wait another path has
  settled (one of ``settled_by`` is in its trace) ends ``settled`` and fires nothing.

The due waits come from ``OpenWait`` (kept by triggers, ``pipelines.open_waits``), by ``due_at``, a bounded
query: it costs what is due now, not every wait ever.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from pipelines import ids
from pipelines.declarations import Deadline, Pipeline, Step
from pipelines.models import Checkpoint, CheckpointLog, OpenWait, Trace, WaitEnded, WaitExtended, WaitOpened

log = structlog.get_logger("pipelines.deadlines")


def wait_id(pipeline: str, step: str, item_id: Any) -> uuid.UUID:
    return ids.deterministic_id("wait", pipeline, step, str(item_id))


def ended_id(wait: uuid.UUID, round: int) -> uuid.UUID:
    return ids.deterministic_id("wait-ended", str(wait), str(round))


def period(deadline: Deadline) -> datetime.timedelta:
    """One round's length: the declared setting, in minutes (settings are read at call time)."""
    return datetime.timedelta(minutes=float(getattr(settings, deadline.setting)))


def deadline_of(opened_at: datetime.datetime, deadline: Deadline, round: int) -> datetime.datetime:
    """The deadline of a wait's ``round``: the one place it is computed (round n passes n periods after the wait
    opened). A later deadline for an open round is recorded with ``extend``."""
    return opened_at + round * period(deadline)


# -- the runner's side --------------------------------------------------------------------------------------
def opened(spec: Pipeline, step: Step, item_value: Any, trace_id: uuid.UUID, key: str, now: datetime.datetime) -> None:
    """The step answered ``AWAIT``: open its wait (once; a wait that exists keeps its first deadline)."""
    if step.deadline is None or not isinstance(item_value, Checkpoint):
        return
    wait = WaitOpened(
        id=wait_id(spec.name, step.name, item_value.pk),
        pipeline=spec.name,
        step=step.name,
        item_type=type(item_value).__name__,
        item_id=item_value.pk,
        trace_id=trace_id,
        idempotency_key=key,
        opened_at=now,
        due_at=deadline_of(now, step.deadline, 1),
    )
    WaitOpened.objects.bulk_create([wait], ignore_conflicts=True)


def claim(spec: Pipeline, step: Step, item_value: Any, now: datetime.datetime) -> bool:
    """The event's side of the race, in the step's transaction: end the open round as ``resolved``.

    False when that round's deadline got there first (the event lost: the deadline's pipeline decides). A step
    with no open wait (it never waited, or its last round is over) has nothing to race.
    """
    if step.deadline is None or not isinstance(item_value, Checkpoint):
        return True
    wait = wait_id(spec.name, step.name, item_value.pk)
    current = OpenWait.objects.filter(wait_id=wait).values_list("round", flat=True).first()
    if current is None:
        return True
    inserted, outcome = _end(wait, current, WaitEnded.RESOLVED, None, "", now)
    return inserted or outcome == WaitEnded.RESOLVED


def _end(
    wait: uuid.UUID, round: int, outcome: str, next_due: datetime.datetime | None, detail: str, now: datetime.datetime
) -> tuple[bool, str]:
    """Insert the round's one ending row: (whether this insert went in, the outcome stored for the round)."""
    row = WaitEnded(
        id=ended_id(wait, round),
        wait_id=wait,
        round=round,
        outcome=outcome,
        next_due_at=next_due,
        detail=detail[:300],
        created_at=now,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        stored = WaitEnded.objects.filter(pk=row.id).values_list("outcome", flat=True).first()
        return False, stored or ""
    return True, outcome


def extend(wait: uuid.UUID, by: datetime.timedelta, reason: str, now: datetime.datetime | None = None) -> bool:
    """Move an open wait's current deadline ``by`` later (a pause of the step behind it); False if not open."""
    current = OpenWait.objects.filter(wait_id=wait).values_list("round", "due_at").first()
    if current is None:
        return False
    round, due = current
    WaitExtended.objects.create(
        id=uuid.uuid4(),
        wait_id=wait,
        round=round,
        due_at=due + by,
        reason=reason[:300],
        created_at=now or timezone.now(),
    )
    return True


# -- the deadline's side ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fired:
    """What the deadline task did with one due wait: ``expired`` (it ran ``pipeline``), ``settled``, or
    ``missed`` (the round had already ended: the event, or another firing, got there first)."""

    wait_id: uuid.UUID
    pipeline: str
    step: str
    round: int
    outcome: str
    ran: str = ""
    inserted: int = 0
    first_status: str = ""


def due(now: datetime.datetime, limit: int, *, pipeline: str | None = None, step: str | None = None) -> list[OpenWait]:
    """Waits whose current round's deadline has passed, oldest deadline first (the ``due_at`` index)."""
    rows = OpenWait.objects.filter(due_at__lte=now)
    if pipeline is not None:
        rows = rows.filter(pipeline=pipeline)
    if step is not None:
        rows = rows.filter(step=step)
    return list(rows.order_by("due_at", "wait_id")[:limit])


def expire(
    now: datetime.datetime | None = None,
    limit: int | None = None,
    *,
    pipeline: str | None = None,
    step: str | None = None,
) -> list[Fired]:
    """One pass of the deadline task: fire every due wait (at most ``limit``, ``TPFGO_DEADLINE_BATCH``)."""
    now = now or timezone.now()
    limit = limit or int(getattr(settings, "TPFGO_DEADLINE_BATCH", 200))
    fired = [fire(wait, now) for wait in due(now, limit, pipeline=pipeline, step=step)]
    if fired:
        log.info("deadlines.fired", waits=len(fired), expired=sum(f.outcome == WaitEnded.EXPIRED for f in fired))
    return fired


def fire(wait: OpenWait, now: datetime.datetime) -> Fired:
    """End the wait's current round as ``expired`` (or ``settled``) and, if this call did, run its pipeline."""
    from pipelines.registry import checkpoint_models, composition, engine

    step = composition().pipeline(wait.pipeline).step(wait.step)
    deadline = step.deadline
    opened_row = WaitOpened.objects.get(pk=wait.wait_id)
    if deadline is None:  # the composition no longer declares one: close the wait, run nothing
        _end(wait.wait_id, wait.round, WaitEnded.SETTLED, None, "no deadline declared", now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED)
    found = settled_by(deadline, wait.trace_id, opened_row.opened_at)
    if found:
        inserted, _ = _end(wait.wait_id, wait.round, WaitEnded.SETTLED, None, found, now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED if inserted else "missed")
    last = wait.round >= deadline.rounds
    next_due = None if last else deadline_of(opened_row.opened_at, deadline, wait.round + 1)
    ran = deadline.pipelines[min(wait.round, deadline.rounds) - 1]
    inserted, _ = _end(wait.wait_id, wait.round, WaitEnded.EXPIRED, next_due, ran, now)
    if not inserted:
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, "missed")
    item = checkpoint_models()[opened_row.item_type].objects.get(pk=opened_row.item_id)
    target = composition().pipeline(ran)
    start = deadline.step if deadline.step in {s.name for s in target.steps} else None
    with _guard(deadline, wait.trace_id):
        execution = engine().run(ran, item, step=start, event=deadline.event)
    log.info("deadline.expired", wait_id=str(wait.wait_id), round=wait.round, pipeline=ran)
    return Fired(
        wait.wait_id,
        wait.pipeline,
        wait.step,
        wait.round,
        WaitEnded.EXPIRED,
        ran,
        len(execution.inserted()),
        execution.first.status if execution.results else "",
    )


@contextlib.contextmanager
def _guard(deadline: Deadline, trace_id: uuid.UUID) -> Iterator[None]:
    if deadline.guard is None:
        yield
        return
    with import_string(deadline.guard)(trace_id):
        yield


def settled_by(deadline: Deadline, trace_id: uuid.UUID, since: datetime.datetime) -> str:
    """The first of the deadline's ``settled_by`` types in the trace since the wait opened, or ``""``."""
    if not deadline.settled_by:
        return ""
    found = (
        CheckpointLog.objects.of_trace(trace_id)
        .filter(checkpoint_type__in=deadline.settled_by, created_at__gte=since)
        .values_list("checkpoint_type", flat=True)
        .first()
    )
    return found or ""


# -- reads (the dashboard) ----------------------------------------------------------------------------------
def live(pipeline: str, step: str, deadline: Deadline) -> QuerySet[OpenWait]:
    """The open waits of one await that nothing has settled yet (checked in the trace's log: the
    ``(trace_number, seq)`` index, a few rows per wait), oldest first."""
    rows = OpenWait.objects.filter(pipeline=pipeline, step=step)
    if deadline.settled_by:
        number = Trace.objects.filter(trace_id=OuterRef(OuterRef("trace_id"))).values("number")[:1]
        settling = CheckpointLog.objects.filter(
            trace_number=number, checkpoint_type__in=deadline.settled_by, created_at__gte=OuterRef("opened_at")
        )
        rows = rows.exclude(Exists(settling))
    return rows.order_by("opened_at", "wait_id")


def awaits(composition: Any) -> list[tuple[Pipeline, Step, Deadline]]:
    """Every step of the composition that declares a deadline, in declaration order."""
    return [(p, s, s.deadline) for p in composition.pipelines for s in p.steps if s.deadline is not None]
