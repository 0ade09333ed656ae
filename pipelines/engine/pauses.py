"""Which steps are paused: an operator stops one step (for every item, or for one value of a pause key) without
stopping the workers; the items that reach it are held (``pipelines.failures.holds``) until the pause is resumed
(``pipelines.recovery.pausing``, ``pipelines.recovery.drain``).

A pause is a row (``StepPause``) and so is its end (``StepResume``): "is paused" is derived, and survives restarts.
Every step run asks ``matching()``, so the active pauses are cached per process for ``TPFGO_PAUSE_CACHE_SECONDS``
(2 s by default): a pause or a resume written by another process takes effect here within that time, one written
by this process at once. With no pause active the check is a clock read and a dictionary look-up.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from pipelines.contracts.declarations import Composition
from pipelines.models import StepPause, StepResume
from pipelines.store import clock

log = structlog.get_logger("pipelines.pauses")


@dataclass(frozen=True)
class Scope:
    """What one active pause holds: a step, and optionally one value of one pause key."""

    id: uuid.UUID
    pipeline: str
    step: str
    key: str
    value: str


class _Active:
    """The active pauses by (pipeline, step), read from the database at most once per TTL per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_step: dict[tuple[str, str], tuple[Scope, ...]] = {}
        self.expires = -1.0

    def get(self) -> dict[tuple[str, str], tuple[Scope, ...]]:
        if time.monotonic() < self.expires:
            return self.by_step
        with self.lock:
            if time.monotonic() >= self.expires:
                self.by_step = _load()
                self.expires = time.monotonic() + float(getattr(settings, "TPFGO_PAUSE_CACHE_SECONDS", 2))
        return self.by_step

    def clear(self) -> None:
        self.expires = -1.0


_active = _Active()


def invalidate() -> None:
    """Forget the cached pauses: the next check reads them again (after a pause or resume in this process)."""
    _active.clear()


def active_rows() -> QuerySet[StepPause]:
    """The pauses no resume ended, oldest first."""
    resumed = StepResume.objects.filter(pause=OuterRef("pk"))
    return StepPause.objects.filter(~Exists(resumed)).order_by("created_at")


def _load() -> dict[tuple[str, str], tuple[Scope, ...]]:
    out: dict[tuple[str, str], list[Scope]] = {}
    for row in active_rows():
        out.setdefault((row.pipeline, row.step), []).append(Scope(row.id, row.pipeline, row.step, row.key, row.value))
    return {where: tuple(scopes) for where, scopes in out.items()}


def paused_steps() -> set[tuple[str, str]]:
    return set(_active.get())


def matching(composition: Composition, pipeline: str, step: str, value: Callable[[], Any] | Any) -> Scope | None:
    """The active pause that holds this input at this step, if any (the hot path: every step run asks).

    ``value`` is the step's input, or a function returning it (a parked item's input is loaded only when a pause
    keyed by value is active for its step).
    """
    scopes = _active.get().get((pipeline, step))
    if not scopes:
        return None
    for scope in scopes:
        if not scope.key:
            return scope
    loaded = value() if callable(value) else value
    for scope in scopes:
        resolver = composition.pause_keys.get(scope.key)
        if resolver is not None and resolver(loaded) == scope.value:
            return scope
    return None


# -- the deadline seam ----------------------------------------------------------------------------------------
def holding(composition: Composition, pipeline: str, step: str, value: Any) -> bool:
    """Whether an active pause holds this input at this step, read from the rows (not this process's cache)."""
    return holding_pause(composition, pipeline, step, value) is not None


def holding_pause(
    composition: Composition, pipeline: str, step: str, value: Callable[[], Any] | Any
) -> StepPause | None:
    """The active pause that holds this input at this step, read from the rows (not this process's cache, whose
    reload every few seconds would make a page's reads vary). ``value`` as in ``matching``: a function is called
    only for a pause keyed by value."""
    loaded = unloaded = object()
    for row in active_rows().filter(pipeline=pipeline, step=step):
        if not row.key:
            return row
        resolver = composition.pause_keys.get(row.key)
        if resolver is None:
            continue
        if loaded is unloaded:
            loaded = value() if callable(value) else value
        if resolver(loaded) == row.value:
            return row
    return None


def touched(pipeline: str, step: str, since: datetime.datetime) -> bool:
    """Whether a pause of this step was active at some time after ``since`` (active now, or resumed after it)."""
    rows = StepPause.objects.filter(pipeline=pipeline, step=step)
    return rows.filter(Q(resumes__isnull=True) | Q(resumes__created_at__gt=since)).exists()


def extension(
    composition: Composition,
    pipeline: str,
    step: str,
    value: object,
    *,
    since: datetime.datetime,
    until: datetime.datetime | None = None,
) -> datetime.timedelta:
    """How long, between ``since`` and ``until`` (now), a pause held this input at this step: what a deadline on a
    wait there is pushed back by. Overlapping pauses count once."""
    until = until or clock.reckoned()
    spans = []
    rows = StepPause.objects.filter(pipeline=pipeline, step=step, created_at__lt=until).prefetch_related("resumes")
    for row in rows:
        if row.key:
            resolver = composition.pause_keys.get(row.key)
            if resolver is None or resolver(value) != row.value:
                continue
        ended = next(iter(row.resumes.all()), None)
        start, end = max(row.created_at, since), min(ended.created_at if ended else until, until)
        if end > start:
            spans.append((start, end))
    return _union(spans)


def _union(spans: Iterable[tuple[datetime.datetime, datetime.datetime]]) -> datetime.timedelta:
    total = datetime.timedelta()
    current: tuple[datetime.datetime, datetime.datetime] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return total
