"""Draining a resumed pause: its held items are released at a configured rate, never in a burst.

After the resume, ``release`` lets the held items go in the order they were held, one every
``interval / per_interval`` seconds (``TPFGO_PAUSE_DRAIN_PER_INTERVAL`` items every
``TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS``): each release is a ``PauseRelease`` row with its due time, and the attempt
is handed to the worker with that time as its ETA. One run releases what falls due within the next interval; two
runs at once cannot release more (each release takes the next unique slot), and a late run never releases a burst
(due times are spaced from the previous release and from now). The task ``pipelines.drain_pause`` runs it every
interval while items remain; the sweeper runs it too, and re-enqueues releases whose message was lost. A parked
retry that finds its step paused is held before it claims its attempt (``hold_parked``).
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.module_loading import import_string

from pipelines.engine import pauses
from pipelines.engine.registry import composition
from pipelines.failures import holds, parking
from pipelines.models import (
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    RetryClaim,
    StepPause,
    StepResume,
)
from pipelines.recovery import resume as recovery
from pipelines.store import clock

log = structlog.get_logger("pipelines.drain")


def per_interval() -> int:
    return max(1, int(getattr(settings, "TPFGO_PAUSE_DRAIN_PER_INTERVAL", 20)))


def interval() -> float:
    return max(0.001, float(getattr(settings, "TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS", 5)))


def hold_parked(parked: ParkedItem, attempt: int, value: Callable[[], Any]) -> bool:
    """A parked item's attempt is about to run: hold it instead (unclaimed) when its step is paused for it.

    ``value`` loads the parked input; it is called only when a pause keyed by value is active for the step.
    """
    scope = pauses.matching(composition(), parked.pipeline, parked.step, value)
    if scope is None:
        return False
    try:
        with transaction.atomic():
            return holds.hold_at(parked, scope.id, attempt, clock.reckoned())
    except IntegrityError:
        return True


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
    now = now or clock.reckoned()
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
    now = now or clock.reckoned()
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
    return due_releases(since, now - recovery.grace(), limit, inclusive=True)


def due_releases(
    since: datetime.datetime, until: datetime.datetime, limit: int, *, inclusive: bool = False
) -> list[PauseRelease]:
    """Releases due after ``since`` (from it, when ``inclusive``) up to ``until`` whose attempt nobody claimed,
    nothing ended since, and no later pause holds again."""
    claimed = RetryClaim.objects.filter(parked=OuterRef("hold__parked"), attempt=OuterRef("hold__attempt"))
    ended = ParkingOutcome.objects.filter(parked=OuterRef("hold__parked"), created_at__gte=OuterRef("created_at"))
    held_again = PausedItem.objects.filter(parked=OuterRef("hold__parked"), created_at__gt=OuterRef("created_at"))
    window = {"due_at__gte" if inclusive else "due_at__gt": since, "due_at__lte": until}
    due = PauseRelease.objects.filter(**window)
    due = due.filter(~Exists(claimed), ~Exists(ended), ~Exists(held_again)).select_related("hold")
    return list(due.order_by("due_at")[:limit])


def held_attempt(parked: OuterRef, attempt: OuterRef) -> QuerySet[PausedItem]:
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
    now = now or clock.reckoned()
    held = PausedItem.objects.filter(pause=pause).count()
    releases = PauseRelease.objects.filter(pause=pause)
    released = releases.count()
    drained = releases.filter(due_at__lte=now).count()
    ended = StepResume.objects.filter(pause=pause).first()
    last = releases.order_by("-slot").values_list("due_at", flat=True).first() if ended is not None else None
    return _progress(held, released, drained, ended, last, now)


def _progress(
    held: int,
    released: int,
    drained: int,
    ended: StepResume | None,
    last_due: datetime.datetime | None,
    now: datetime.datetime,
) -> Progress:
    done_by = None
    if ended is not None and held > drained:
        start_at = max(last_due or ended.created_at, now)
        done_by = start_at + gap(ended) * (held - released)
    return Progress(held, released, drained, held - drained, done_by)


def progress_of(pause_ids: list[uuid.UUID], now: datetime.datetime) -> dict[uuid.UUID, Progress]:
    """``progress`` of many pauses in one query (the Paused steps page lists every active pause and recent resume:
    four queries a pause made it grow with them)."""

    def counted(rows: QuerySet[Any]) -> Coalesce:
        return Coalesce(Subquery(rows.order_by().values("pause").annotate(n=Count("pk")).values("n")[:1]), 0)

    releases = PauseRelease.objects.filter(pause=OuterRef("pk"))
    rows = (
        StepPause.objects.filter(pk__in=pause_ids)
        .values("pk")
        .annotate(
            held=counted(PausedItem.objects.filter(pause=OuterRef("pk"))),
            released=counted(releases),
            drained=counted(releases.filter(due_at__lte=now)),
            last_due=Subquery(releases.order_by("-slot").values("due_at")[:1]),
        )
    )
    ended = {r.pause_id: r for r in StepResume.objects.filter(pause_id__in=pause_ids)}
    return {
        row["pk"]: _progress(row["held"], row["released"], row["drained"], ended.get(row["pk"]), row["last_due"], now)
        for row in rows
    }
