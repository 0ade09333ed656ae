"""Waits and their deadlines, as stored: a step's wait opens, each round ends once, a round's deadline moves.

A step that answers ``AWAIT`` opens a wait (``WaitOpened``, its id deterministic from pipeline, step and input).
The wait has rounds: round ``n`` passes at ``deadline_of(opened_at, deadline, n)``. Each round ends exactly once,
in one unique ``WaitEnded`` row that the event and the deadline race for:

- the event's side (``claim``): the runner, before it inserts the resumed step's checkpoint, inserts the round's
  row as ``resolved`` in the same transaction; if the deadline's row is there first, the event has lost;
- the deadline's side (``end_round``, called by ``pipelines.recovery.deadlines``): the round's row as ``expired``
  (or ``settled``, when another path wrote one of the deadline's ``settled_by`` types on a branch that holds the
  wait; a fork ends the waits it supersedes as ``settled`` too, ``pipelines.recovery.forks.close_superseded``).

The open waits are ``OpenWait`` rows (kept by triggers, ``pipelines.store.open_waits``), read by ``due_at``: a
bounded query that costs what is due now, not every wait ever.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from pipelines.contracts import ids
from pipelines.contracts.declarations import Deadline, Pipeline, Step
from pipelines.models import (
    MAIN_BRANCH,
    Checkpoint,
    CheckpointLog,
    ForkedFrom,
    OpenWait,
    PausedItem,
    PauseRelease,
    Trace,
    WaitEnded,
    WaitExtended,
    WaitOpened,
)
from pipelines.store import branches, clock


def wait_id(pipeline: str, step: str, item_id: Any, branch: str | None = None) -> uuid.UUID:
    """The item's one wait at this step. ``branch``: given only when the wait is on another branch than its input's
    own, as a fork's first step after its fork point is (its input is a checkpoint of the parent's branch): then the
    branch is part of the id, and the fork's wait is not the parent's. Every other wait (the main branch's, and a
    fork's on its own checkpoints) keeps the id it always had."""
    other = () if branch is None else (branch,)
    return ids.deterministic_id("wait", pipeline, step, str(item_id), *other)


def own_branch(item_value: Checkpoint) -> str:
    """The branch of the checkpoint itself (its ``branch_field``; a model without one is on the main branch)."""
    column = type(item_value).branch_field
    return str(getattr(item_value, column)) if column else MAIN_BRANCH


def _wait_of(spec: Pipeline, step: Step, item_value: Checkpoint, branch: str | None) -> tuple[uuid.UUID, str]:
    """The id of the item's wait at this step on ``branch`` (None: the input's own), and that branch."""
    own = own_branch(item_value)
    on = branch or own
    return wait_id(spec.name, step.name, item_value.pk, None if on == own else on), on


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
def opened(
    spec: Pipeline,
    step: Step,
    item_value: Any,
    trace_id: uuid.UUID,
    key: str,
    now: datetime.datetime,
    branch: str | None = None,
) -> None:
    """The step answered ``AWAIT`` on ``branch`` (None: its input's own): open its wait (once; a wait that exists
    keeps its first deadline)."""
    if step.deadline is None or not isinstance(item_value, Checkpoint):
        return
    pk, branch = _wait_of(spec, step, item_value, branch)
    wait = WaitOpened(
        id=pk,
        pipeline=spec.name,
        step=step.name,
        item_type=type(item_value).__name__,
        item_id=item_value.pk,
        trace_id=trace_id,
        idempotency_key=key,
        opened_at=now,
        due_at=deadline_of(now, step.deadline, 1),
        branch=branch,
    )
    WaitOpened.objects.bulk_create([wait], ignore_conflicts=True)


def claim(spec: Pipeline, step: Step, item_value: Any, now: datetime.datetime, branch: str | None = None) -> bool:
    """The event's side of the race, in the step's transaction: end the open round of the wait on ``branch`` as
    ``resolved``.

    False when that round's deadline got there first (the event lost: the deadline's pipeline decides). A step
    with no open wait (it never waited, or its last round is over) has nothing to race.
    """
    if step.deadline is None or not isinstance(item_value, Checkpoint):
        return True
    wait, _ = _wait_of(spec, step, item_value, branch)
    current = OpenWait.objects.filter(wait_id=wait).values_list("round", flat=True).first()
    if current is None:
        return True
    inserted, outcome = end_round(wait, current, WaitEnded.RESOLVED, None, "", now)
    return inserted or outcome == WaitEnded.RESOLVED


def end_round(
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
    """Move an open wait's current deadline ``by`` later, on top of the round's schedule (what pauses add is
    counted by the deadline pass, not stored here); False if the wait is not open."""
    current = OpenWait.objects.filter(wait_id=wait).first()
    if current is None:
        return False
    WaitExtended.objects.create(
        id=uuid.uuid4(),
        wait_id=wait,
        round=current.round,
        due_at=scheduled_due(current) + by,
        reason=reason[:300],
        created_at=now or clock.reckoned(),
    )
    return True


# -- pauses (pipelines.recovery.deadlines counts them) -------------------------------------------------------
PAUSED = "held by a pause"  # the reason of every extension the deadline pass inserts for a pause


def scheduled_due(wait: OpenWait) -> datetime.datetime:
    """The current round's deadline without what pauses added: the newest extension made for another reason, else
    the round's own (the wait's first deadline, or the one the previous round's end re-armed it with)."""
    extended = (
        WaitExtended.objects.filter(wait_id=wait.wait_id, round=wait.round)
        .exclude(reason__startswith=PAUSED)
        .order_by("-created_at", "-due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    if extended is not None:
        return extended
    if wait.round == 1:
        return WaitOpened.objects.filter(pk=wait.wait_id).values_list("due_at", flat=True).get()
    rearmed = WaitEnded.objects.filter(wait_id=wait.wait_id, round=wait.round - 1).values_list("next_due_at", flat=True)
    return rearmed.get() or wait.due_at


def moved_by_pause(wait: OpenWait, due_at: datetime.datetime, detail: str, now: datetime.datetime) -> None:
    """Record the round's deadline with the pauses counted (its id derived from the wait, round and deadline: two
    passes that count the same pauses insert one row)."""
    row = WaitExtended(
        id=ids.deterministic_id("wait-paused", str(wait.wait_id), str(wait.round), due_at.isoformat()),
        wait_id=wait.wait_id,
        round=wait.round,
        due_at=due_at,
        reason=f"{PAUSED}: {detail}"[:300],
        created_at=now,
    )
    WaitExtended.objects.bulk_create([row], ignore_conflicts=True)


def held_events(wait: OpenWait, branch: str) -> list[datetime.datetime | None]:
    """The runs of this wait's step on its input (its event) on the wait's ``branch`` that a pause held since the
    wait opened: each one's release time (None while it is not released yet). A released run either ended the wait
    or failed like any other run. A fork's first step waits on its parent's checkpoint, so the parent's wait and the
    fork's share pipeline, step and input: only the branch tells whose event a hold is."""
    holds = PausedItem.objects.filter(
        parked__pipeline=wait.pipeline,
        parked__step=wait.step,
        parked__item_id=wait.item_id,
        parked__branch=branch,
        created_at__gte=wait.opened_at,
    )
    released = PauseRelease.objects.filter(hold=OuterRef("pk")).values("due_at")[:1]
    return list(holds.annotate(released=Subquery(released)).values_list("released", flat=True))


def due(now: datetime.datetime, limit: int, *, pipeline: str | None = None, step: str | None = None) -> list[OpenWait]:
    """Waits whose current round's deadline has passed, oldest deadline first (the ``due_at`` index)."""
    rows = OpenWait.objects.filter(due_at__lte=now)
    if pipeline is not None:
        rows = rows.filter(pipeline=pipeline)
    if step is not None:
        rows = rows.filter(step=step)
    return list(rows.order_by("due_at", "wait_id")[:limit])


def settled_by(deadline: Deadline, wait: WaitOpened) -> str:
    """The first of the deadline's ``settled_by`` types written since the wait opened on a branch that holds the
    wait, or ``""``: the wait's own branch, and a fork from a later checkpoint of it (its view holds the wait's
    input, and the wait with it). Another branch's fact settles nothing: a fork from the waited-on checkpoint waits
    on its own branch (the parent's wait is ended as superseded when the fork is made,
    ``pipelines.recovery.forks.close_superseded``), and neither decides the other's wait."""
    if not deadline.settled_by:
        return ""
    log = CheckpointLog.objects.of_trace(wait.trace_id)
    found = list(log.filter(checkpoint_type__in=deadline.settled_by, created_at__gte=wait.opened_at).order_by("seq"))
    if not found or not branches.forks(wait.trace_id):
        return found[0].checkpoint_type if found else ""
    position = log.filter(checkpoint_id=wait.item_id).values_list("seq", flat=True).first() or 0
    of = branches.branches_of(found)
    for row in found:
        if branches.holds(wait.trace_id, of.get(row.checkpoint_id, MAIN_BRANCH), wait.branch, position):
            return row.checkpoint_type
    return ""


def superseded_by_fork(wait: WaitOpened) -> bool:
    """Whether the trace's newest fork supersedes the wait: the wait is on a branch the fork's view is not made of,
    or on one it is whose input is the fork point or later (the fork runs its step again, and waits on its own
    branch)."""
    active = branches.active(wait.trace_id)
    if active == wait.branch:
        return False
    seen = branches.cutoffs(wait.trace_id, active)
    if wait.branch not in seen:
        return True
    waited_at = CheckpointLog.objects.of_trace(wait.trace_id).filter(checkpoint_id=wait.item_id)
    return (seen[wait.branch] or 0) <= (waited_at.values_list("seq", flat=True).first() or 0)


# -- reads (the dashboard) ----------------------------------------------------------------------------------
def live(pipeline: str, step: str, deadline: Deadline) -> QuerySet[OpenWait]:
    """The open waits of one await that nothing has settled yet (checked in the trace's log: the
    ``(trace_number, seq)`` index, a few rows per wait), oldest first. A forked trace's waits, few (forks are ops
    actions), are judged one by one: a fact settles only a wait on a branch that holds it (``settled_by``), and a
    wait a fork supersedes is left out though the fork did not get to end it (``superseded_by_fork``): its deadline
    ends it as settled, running nothing."""
    rows = OpenWait.objects.filter(pipeline=pipeline, step=step)
    forked = ForkedFrom.objects.values("trace_id")
    opened = WaitOpened.objects.filter(pk__in=rows.filter(trace_id__in=forked).values("wait_id"))
    ended = [w.pk for w in opened if superseded_by_fork(w) or (deadline.settled_by and settled_by(deadline, w))]
    if deadline.settled_by:
        number = Trace.objects.filter(trace_id=OuterRef(OuterRef("trace_id"))).values("number")[:1]
        settling = CheckpointLog.objects.filter(
            trace_number=number, checkpoint_type__in=deadline.settled_by, created_at__gte=OuterRef("opened_at")
        )
        rows = rows.exclude(Q(Exists(settling)) & ~Q(trace_id__in=forked))
    return rows.exclude(wait_id__in=ended).order_by("opened_at", "wait_id")
