"""Deadlines on waits, the deadline's side: the beat task's pass over the due waits (``pipelines.expire_waits``).

Each due wait's current round ends once (``pipelines.store.waits.end_round``); only the call whose ``expired``
row went in runs the round's pipeline, through the engine. A wait another path has settled ends ``settled`` and
runs nothing. How waits open, and how an event ends a round first, is in ``pipelines.store.waits``.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from pipelines.contracts.declarations import Composition, Deadline, Pipeline, Step
from pipelines.contracts.steps import StepStatus
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.models import OpenWait, WaitEnded, WaitOpened
from pipelines.store.waits import deadline_of, due, end_round, extend, live, period, settled_by

# What the console and the domain use: the pass, the reads, and moving a deadline.
__all__ = ["Fired", "awaits", "due", "expire", "extend", "fire", "live", "period"]

log = structlog.get_logger("pipelines.deadlines")


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
    first_status: StepStatus | None = None


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
    step = composition().pipeline(wait.pipeline).step(wait.step)
    deadline = step.deadline
    opened_row = WaitOpened.objects.get(pk=wait.wait_id)
    if deadline is None:  # the composition no longer declares one: close the wait, run nothing
        end_round(wait.wait_id, wait.round, WaitEnded.SETTLED, None, "no deadline declared", now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED)
    found = settled_by(deadline, wait.trace_id, opened_row.opened_at)
    if found:
        inserted, _ = end_round(wait.wait_id, wait.round, WaitEnded.SETTLED, None, found, now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED if inserted else "missed")
    last = wait.round >= deadline.rounds
    next_due = None if last else deadline_of(opened_row.opened_at, deadline, wait.round + 1)
    ran = deadline.pipelines[min(wait.round, deadline.rounds) - 1]
    inserted, _ = end_round(wait.wait_id, wait.round, WaitEnded.EXPIRED, next_due, ran, now)
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
        execution.first.status if execution.results else None,
    )


@contextlib.contextmanager
def _guard(deadline: Deadline, trace_id: uuid.UUID) -> Iterator[None]:
    if deadline.guard is None:
        yield
        return
    with import_string(deadline.guard)(trace_id):
        yield


def awaits(spec: Composition) -> list[tuple[Pipeline, Step, Deadline]]:
    """Every step of a composition that declares a deadline, in declaration order."""
    return [(p, s, s.deadline) for p in spec.pipelines for s in p.steps if s.deadline is not None]
