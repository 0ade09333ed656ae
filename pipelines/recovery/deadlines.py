"""Deadlines on waits, the deadline's side: the beat task's pass over the due waits (``pipelines.expire_waits``).

Each due wait's current round ends once (``pipelines.store.waits.end_round``); only the call whose ``expired``
row went in runs the round's pipeline, through the engine. A wait another path has settled (on a branch that
holds it), or that the trace's newest fork supersedes (``forks.supersedes``), ends ``settled`` and runs nothing.
How waits open, and how an event ends a round first, is in ``pipelines.store.waits``.

A pause extends the waits behind it: a wait is behind a pause that holds the wait's own step for the wait's input
(the whole step, or the key value the input resolves to), since that step is where the wait's event is taken.
Before a due wait fires, the pass counts the pause time that overlapped the wait (``paused_due``); if that puts
the deadline in the future, it records it (``WaitExtended``) instead of firing. A held event counts for the wait on
its own branch only (``held_events``): a fork's first step waits on its parent's input. The count
is made from the pause rows each time, so it holds across restarts and concurrent passes. A resume re-arms the
waits the pass pushed while the pause lasted (``rearm``). Docs: docs/operations.md, "Pausing a step".
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils.module_loading import import_string

from pipelines.contracts.declarations import Composition, Deadline, Pipeline, Step, type_label
from pipelines.contracts.errors import ContractError
from pipelines.contracts.inputs import Value, deadline_start, fits, reaching
from pipelines.contracts.steps import Execution, StepResult, StepStatus
from pipelines.engine import pauses
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.failures import parking
from pipelines.failures.record import record as record_failure
from pipelines.models import MAIN_BRANCH, Checkpoint, OpenWait, WaitEnded, WaitExtended, WaitOpened
from pipelines.recovery import actions, forks
from pipelines.recovery.resume import grace
from pipelines.store import clock
from pipelines.store.waits import (
    PAUSED,
    deadline_of,
    due,
    end_round,
    extend,
    held_events,
    live,
    moved_by_pause,
    period,
    scheduled_due,
    settled_by,
)

# What the console and the domain use: the pass, the reads, moving a deadline, and ending what a fact settled.
__all__ = ["Fired", "awaits", "due", "expire", "extend", "fire", "live", "paused_due", "period", "rearm", "settle"]

log = structlog.get_logger("pipelines.deadlines")


# -- the deadline's side ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fired:
    """What the deadline task did with one due wait: ``expired`` (it ran ``pipeline``), ``settled``, ``extended``
    (a pause held it: its deadline moved, nothing ran), or ``missed`` (the round had already ended: the event, or
    another firing, got there first)."""

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
    """One pass of the deadline task: fire every due wait (at most ``limit``, ``TPFGO_DEADLINE_BATCH``), due by the
    database's clock, which the waits' deadlines are written with (``pipelines.store.clock``)."""
    now = now or clock.reckoned()
    limit = limit or int(getattr(settings, "TPFGO_DEADLINE_BATCH", 200))
    fired = [fire(wait, now) for wait in due(now, limit, pipeline=pipeline, step=step)]
    if fired:
        log.info("deadlines.fired", waits=len(fired), expired=sum(f.outcome == WaitEnded.EXPIRED for f in fired))
    return fired


def fire(wait: OpenWait, now: datetime.datetime) -> Fired:
    """End the wait's current round as ``expired`` (or ``settled``) and, if this call did, run its pipeline.

    In the trace's turn (``actions.in_turn``, its decisions' lock), which a fork holds from its first step to
    ending the waits it supersedes: the round is looked at (still open, settled, superseded) and run in one turn,
    so a fork made meanwhile either ended the wait first (the round runs nothing) or starts after the round ran."""
    with actions.in_turn(wait.trace_id):
        if not OpenWait.objects.filter(wait_id=wait.wait_id, round=wait.round).exists():  # ended while it waited
            return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, "missed")
        return _fire(wait, now)


def settle(trace_id: uuid.UUID, detail: str, now: datetime.datetime | None = None) -> list[uuid.UUID]:
    """End now, ``settled`` with ``detail``, each open wait of the trace that a fact already stored settles (its
    deadline's ``settled_by``, on a branch that holds the wait): the judgement the pass makes once the wait is due,
    made by the path that wrote the fact, so the wait is not listed as waiting until then and its deadline finds
    nothing to do. A round that ended meanwhile (its event, its deadline) is left as it is. The waits it ended.

    Its caller holds the trace's turn (``actions.in_turn``), as ``fire`` does; a round raced anyway ends once."""
    rounds = dict(OpenWait.objects.filter(trace_id=trace_id).values_list("wait_id", "round"))
    if not rounds:
        return []
    now = now or clock.reckoned()
    spec = composition()
    ended = []
    for opened_row in WaitOpened.objects.filter(pk__in=list(rounds)).order_by("opened_at", "id"):
        deadline = spec.pipeline(opened_row.pipeline).step(opened_row.step).deadline
        if deadline is None or not settled_by(deadline, opened_row):
            continue
        if end_round(opened_row.pk, rounds[opened_row.pk], WaitEnded.SETTLED, None, detail, now)[0]:
            ended.append(opened_row.pk)
    return ended


def _fire(wait: OpenWait, now: datetime.datetime) -> Fired:
    step = composition().pipeline(wait.pipeline).step(wait.step)
    deadline = step.deadline
    opened_row = WaitOpened.objects.get(pk=wait.wait_id)
    if deadline is None:  # the composition no longer declares one: close the wait, run nothing
        end_round(wait.wait_id, wait.round, WaitEnded.SETTLED, None, "no deadline declared", now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED)
    found = settled_by(deadline, opened_row) or (forks.SUPERSEDED if forks.supersedes(opened_row) else "")
    if found:
        inserted, _ = end_round(wait.wait_id, wait.round, WaitEnded.SETTLED, None, found, now)
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, WaitEnded.SETTLED if inserted else "missed")
    if pauses.touched(wait.pipeline, wait.step, wait.opened_at):
        later = paused_due(wait, deadline, now)
        if later > now:
            moved_by_pause(wait, later, f"{wait.pipeline}.{wait.step}", now)
            log.info("deadline.extended", wait_id=str(wait.wait_id), round=wait.round, due_at=later.isoformat())
            return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, EXTENDED)
    last = wait.round >= deadline.rounds
    next_due = None if last else deadline_of(opened_row.opened_at, deadline, wait.round + 1)
    ran = deadline.pipelines[min(wait.round, deadline.rounds) - 1]
    inserted, _ = end_round(wait.wait_id, wait.round, WaitEnded.EXPIRED, next_due, ran, now)
    if not inserted:
        return Fired(wait.wait_id, wait.pipeline, wait.step, wait.round, "missed")
    item = checkpoint_models()[opened_row.item_type].objects.get(pk=opened_row.item_id)
    target = composition().pipeline(ran)
    index = deadline_start(deadline, target)
    start = target.steps[index].name if index else None
    # The wait's branch: a fork's first step waits on its parent's checkpoint (a row of the release before the
    # column says main, and its input's own branch is the one it waited on).
    on = None if opened_row.branch == MAIN_BRANCH else opened_row.branch
    taken = reaching(target, index)
    if not fits(Value(type(item), False, "the deadline"), taken):  # pipelines.E048 at check time
        execution = _refused(wait, target, index, item, taken, on)
    else:
        with _guard(deadline, wait.trace_id):
            execution = engine().run(ran, item, step=start, event=deadline.event, branch=on)
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


def _refused(
    wait: OpenWait, target: Pipeline, index: int, item: Checkpoint, taken: list[Value], branch: str | None
) -> Execution:
    """A round whose pipeline cannot take the waited-on input runs nothing: one error-sink entry (a
    ``ContractError``, dead-lettered at once), parked at the pipeline's step for ops, instead of running the step
    on an input it does not read. A later round refused at the same step is a new attempt of the parked item: its
    own entry and dead letter, so ops see each round that ran nothing."""
    step = target.steps[index]
    expected = " | ".join(v.label for v in taken)
    error = ContractError(
        f"the deadline of step {wait.pipeline}/{wait.step} runs pipeline '{target.name}' on "
        f"{type_label(type(item))}, but {target.name} takes {expected} at its step {step.name} (pipelines.E048)"
    )
    refused = engine().item_for(target, item, branch=branch)
    record_failure(target, step, refused, None, parking.next_attempt(target, step, refused), error)
    log.warning("deadline.refused", wait_id=str(wait.wait_id), round=wait.round, pipeline=target.name)
    return Execution([StepResult(target.name, step.name, StepStatus.FAILED, error=error)])


# -- pauses ---------------------------------------------------------------------------------------------------
EXTENDED = "extended"


def paused_due(wait: OpenWait, deadline: Deadline, now: datetime.datetime) -> datetime.datetime:
    """The round's deadline with the pauses counted: its schedule plus the pause time that held the wait's input at
    its step since the wait opened. While a pause still holds it, or a held event of the wait is not released
    yet, at least a period from now (``rearm`` brings it back at the resume); a released event gets until its
    release's due time plus the sweeper's grace, to run and end the wait."""
    spec = composition()
    opened_row = WaitOpened.objects.get(pk=wait.wait_id)
    value = checkpoint_models()[opened_row.item_type].objects.get(pk=opened_row.item_id)
    held = pauses.extension(spec, wait.pipeline, wait.step, value, since=wait.opened_at, until=now)
    later = [scheduled_due(wait) + held]
    recheck = now + period(deadline)
    if pauses.holding(spec, wait.pipeline, wait.step, value):
        later.append(recheck)
    for released in held_events(wait, opened_row.branch):
        later.append(recheck if released is None else released + grace())
    return max(later)


def rearm(pipeline: str, step: str, now: datetime.datetime | None = None) -> int:
    """After a resume: move every open wait of the step that a pause pushed to its deadline with the pauses counted
    (which may be due at once); how many moved."""
    now = now or clock.reckoned()
    deadline = composition().pipeline(pipeline).step(step).deadline
    if deadline is None:
        return 0
    pushed = WaitExtended.objects.filter(
        wait_id=OuterRef("wait_id"), round=OuterRef("round"), reason__startswith=PAUSED
    )
    moved = 0
    for wait in OpenWait.objects.filter(pipeline=pipeline, step=step, due_at__gt=now).filter(Exists(pushed)):
        later = paused_due(wait, deadline, now)
        if later != wait.due_at:
            moved_by_pause(wait, later, f"{pipeline}.{step} resumed", now)
            moved += 1
    if moved:
        log.info("deadlines.rearmed", pipeline=pipeline, step=step, waits=moved)
    return moved


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
