"""Holding items at a paused step, and draining them after the resume at a configured rate.

**Hold.** An item that reaches a paused step (``pipelines.pauses.matching``) is parked with reason PAUSED: its
``ParkedItem`` (the same row a failure would write) and a ``PausedItem`` naming the pause and the attempt it will
run. The step is not called, no error-sink entry is written, no attempt is scheduled or claimed, so the retry
budget is untouched. A parked retry that finds its step paused is held the same way before it claims its attempt.
A held item is an open parked item (``OpenParked``): it counts toward the backlog bound, and the sweeper never
resumes its trace.

**Drain.** After the resume, ``release`` lets the held items go in the order they were held, one every
``interval / per_interval`` seconds (``TPFGO_PAUSE_DRAIN_PER_INTERVAL`` items every
``TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS``): each release is a ``PauseRelease`` row with its due time, and the attempt
is handed to the worker with that time as its ETA. One run releases what falls due within the next interval; two
runs at once cannot release more (each release takes the next unique slot), and a late run never releases a burst
(due times are spaced from the previous release and from now). The task ``pipelines.drain_pause`` runs it every
interval while items remain; the sweeper runs it too, and re-enqueues releases whose message was lost.
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from pipelines import parking, pauses, recovery
from pipelines.models import (
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    RetryClaim,
    StepPause,
    StepResume,
)

if TYPE_CHECKING:
    from pipelines.declarations import Pipeline, Step
    from pipelines.runner import Item

log = structlog.get_logger("pipelines.drain")

PAUSED = "PAUSED"


def per_interval() -> int:
    return max(1, int(getattr(settings, "TPFGO_PAUSE_DRAIN_PER_INTERVAL", 20)))


def interval() -> float:
    return max(0.001, float(getattr(settings, "TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS", 5)))


# -- holding ------------------------------------------------------------------------------------------------------
def hold(
    spec: Pipeline, step: Step, item: Item, event: Mapping[str, Any] | None, attempt: int, scope: pauses.Scope
) -> bool:
    """Park an item that reached a paused step (reason PAUSED); False when its hold was already released (this
    process's view of the pauses is behind a resume), so the step runs."""
    now = timezone.now()
    try:
        with transaction.atomic():
            parked = parking.parked_row(spec, step, item, event, now)
            return _hold(parked, scope.id, attempt, now)
    except IntegrityError:  # a concurrent run held the same item first
        return True


def hold_parked(parked: ParkedItem, attempt: int) -> bool:
    """A parked item's attempt is about to run: hold it instead (unclaimed) when its step is paused for it."""
    from pipelines.registry import composition
    from pipelines.retries import load_value

    scope = pauses.matching(composition(), parked.pipeline, parked.step, lambda: load_value(parked))
    if scope is None:
        return False
    try:
        with transaction.atomic():
            return _hold(parked, scope.id, attempt, timezone.now())
    except IntegrityError:
        return True


def _hold(parked: ParkedItem, pause_id: uuid.UUID, attempt: int, now: datetime.datetime) -> bool:
    existing = PausedItem.objects.filter(parked=parked, pause_id=pause_id).first()
    if existing is not None:
        return not PauseRelease.objects.filter(hold=existing).exists()
    PausedItem.objects.create(parked=parked, pause_id=pause_id, attempt=attempt, created_at=now)
    log.info("item.paused", parked_id=str(parked.pk), pause_id=str(pause_id), attempt=attempt, reason=PAUSED)
    return True


def open_hold(parked: ParkedItem) -> PausedItem | None:
    """The item's newest hold not released yet, if any (what the order view shows as the reason it waits)."""
    released = PauseRelease.objects.filter(hold=OuterRef("pk"))
    return (
        PausedItem.objects.filter(parked=parked)
        .filter(~Exists(released))
        .select_related("pause")
        .order_by("-created_at")
        .first()
    )


# -- draining -----------------------------------------------------------------------------------------------------
def _unreleased(pause_id: uuid.UUID) -> Any:
    released = PauseRelease.objects.filter(hold=OuterRef("pk"))
    return PausedItem.objects.filter(pause_id=pause_id).filter(~Exists(released))


def gap(ended: StepResume) -> datetime.timedelta:
    """The time between two releases, rounded up to the microsecond: never more than the rate."""
    return datetime.timedelta(microseconds=math.ceil(ended.interval * 1_000_000 / ended.per_interval))


def release(pause_id: uuid.UUID | str, now: datetime.datetime | None = None) -> int:
    """Release the held items of a resumed pause that fall due before ``now`` + one interval; how many."""
    ended = StepResume.objects.filter(pause_id=uuid.UUID(str(pause_id))).first()
    if ended is None:
        return 0
    now = now or timezone.now()
    step = gap(ended)
    horizon = now + datetime.timedelta(seconds=ended.interval)
    last = PauseRelease.objects.filter(pause_id=ended.pause_id).order_by("-slot").first()
    slot = last.slot + 1 if last else 0
    due = max(last.due_at + step if last else ended.created_at, now)
    count = 0
    for held in _unreleased(ended.pause_id).order_by("created_at", "id")[: ended.per_interval]:
        if due >= horizon:
            break
        try:
            with transaction.atomic():
                PauseRelease.objects.create(hold=held, pause_id=ended.pause_id, slot=slot, due_at=due, created_at=now)
        except IntegrityError:  # another drain took this slot or this item: it goes on from there
            break
        parking.enqueue(held.parked_id, held.attempt, due)
        count, slot, due = count + 1, slot + 1, due + step
    if count:
        log.info("pause.drained", pause_id=str(ended.pause_id), released=count, next_due=due.isoformat())
    return count


def start(pause_id: uuid.UUID) -> None:
    """Hand a resumed pause's drain to the worker (``TPFGO_DRAIN_ENQUEUE``; empty: nothing, a caller drives it)."""
    hook = getattr(settings, "TPFGO_DRAIN_ENQUEUE", "pipelines.tasks.enqueue_drain")
    if hook:
        import_string(hook)(pause_id, 0.0)


def run(pause_id: uuid.UUID | str, now: datetime.datetime | None = None) -> float | None:
    """One drain pass; the delay before the next one, or None when the pause's items are all released.

    A pause keeps draining for one cache period after the resume: a process that had not seen the resume yet may
    still hold an item under it.
    """
    now = now or timezone.now()
    release(pause_id, now)
    ended = StepResume.objects.filter(pause_id=uuid.UUID(str(pause_id))).first()
    if ended is None:
        return None
    settle = ended.created_at + datetime.timedelta(seconds=float(getattr(settings, "TPFGO_PAUSE_CACHE_SECONDS", 2)))
    if _unreleased(ended.pause_id).exists() or now <= settle:
        return ended.interval
    return None


def release_resumed(now: datetime.datetime, since: datetime.datetime) -> int:
    """The sweeper's pass: drain every resumed pause with items still held (a lost ``drain_pause`` task)."""
    released = PauseRelease.objects.filter(hold=OuterRef("pk"))
    waiting = PausedItem.objects.filter(created_at__gte=since, pause__resumes__isnull=False).filter(~Exists(released))
    return sum(release(pause_id, now) for pause_id in set(waiting.values_list("pause_id", flat=True)))


def lost_releases(now: datetime.datetime, since: datetime.datetime, limit: int) -> list[PauseRelease]:
    """Releases due for longer than the grace period whose attempt nobody claimed and nothing ended since (the
    message was lost), and that no later pause holds again."""
    claimed = RetryClaim.objects.filter(parked=OuterRef("hold__parked"), attempt=OuterRef("hold__attempt"))
    ended = ParkingOutcome.objects.filter(parked=OuterRef("hold__parked"), created_at__gte=OuterRef("created_at"))
    held_again = PausedItem.objects.filter(parked=OuterRef("hold__parked"), created_at__gt=OuterRef("created_at"))
    due = PauseRelease.objects.filter(due_at__gte=since, due_at__lte=now - recovery.grace())
    due = due.filter(~Exists(claimed), ~Exists(ended), ~Exists(held_again)).select_related("hold")
    return list(due.order_by("due_at")[:limit])


def held_attempt(parked: Any, attempt: Any) -> Any:
    """A subquery: a hold owns this scheduled attempt (the drain, not its schedule, says when it runs)."""
    return PausedItem.objects.filter(parked=parked, attempt=attempt)


# -- progress -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    held: int
    released: int
    drained: int  # released and due by now: handed to the worker
    remaining: int
    done_by: datetime.datetime | None  # when the last held item falls due at the pause's rate (resumed only)


def progress(pause: StepPause, now: datetime.datetime | None = None) -> Progress:
    now = now or timezone.now()
    held = PausedItem.objects.filter(pause=pause).count()
    releases = PauseRelease.objects.filter(pause=pause)
    released = releases.count()
    drained = releases.filter(due_at__lte=now).count()
    ended = StepResume.objects.filter(pause=pause).first()
    done_by = None
    if ended is not None and held > drained:
        last = releases.order_by("-slot").first()
        start_at = max(last.due_at if last else ended.created_at, now)
        done_by = start_at + gap(ended) * (held - released)
    return Progress(held, released, drained, held - drained, done_by)
