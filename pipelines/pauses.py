"""Pausing a step: an operator stops one step (for every item, or for one value of a pause key) without stopping
the workers; the items that reach it are held (``pipelines.drain``) until the pause is resumed.

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
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from pipelines.declarations import Composition
from pipelines.models import OpsAction, StepPause, StepResume
from pipelines.status import Detail, FailedPrecondition, InvalidArgument, NotFound

log = structlog.get_logger("pipelines.pauses")

PAUSE_ACTION = "pause-step"
RESUME_ACTION = "resume-step"


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


def active_rows() -> Any:
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


# -- what ops do: pause and resume, each audited --------------------------------------------------------------
def validate(composition: Composition, pipeline: str, step: str, key: str, value: str) -> None:
    try:
        spec = composition.pipeline(pipeline)
        spec.step(step)
    except KeyError as exc:
        raise InvalidArgument(str(exc).strip("'\""), [Detail("step", "unknown")])
    if spec.source_namespace is not None and spec.index(step) == 0:
        raise InvalidArgument(
            f"{pipeline}.{step} is where a command is first stored: nothing exists yet to hold there "
            "(TPFGO_BACKLOG_BOUND limits intake)",
            [Detail("step", "a source step cannot be paused")],
        )
    if bool(key) != bool(value):
        raise InvalidArgument("a pause key needs a value", [Detail("key", "name=value")])
    if key and key not in composition.pause_keys:
        known = ", ".join(sorted(composition.pause_keys)) or "none"
        raise InvalidArgument(f"no pause key named {key!r} (known: {known})", [Detail("key", "unknown")])


def pause(
    composition: Composition, pipeline: str, step: str, *, key: str = "", value: str = "", actor: str, reason: str
) -> StepPause:
    """Pause a step (for one key value when given); refused when the same pause is already active."""
    from pipelines.remediation import check_who

    actor, reason = check_who(actor, reason)
    key, value = (key or "").strip(), (value or "").strip()
    validate(composition, pipeline, step, key, value)
    with transaction.atomic():
        same = active_rows().filter(pipeline=pipeline, step=step, key=key, value=value).first()
        if same is not None:
            raise FailedPrecondition(f"{same} is already paused (since {same.created_at:%Y-%m-%d %H:%M:%S})")
        row = StepPause.objects.create(
            id=uuid.uuid4(),
            pipeline=pipeline,
            step=step,
            key=key,
            value=value,
            actor=actor,
            reason=reason,
            created_at=timezone.now(),
        )
        _audit(PAUSE_ACTION, row, actor, reason, {"pipeline": pipeline, "step": step, "key": key, "value": value})
    invalidate()
    log.warning("step.paused", pause_id=str(row.id), pipeline=pipeline, step=step, key=key, value=value, actor=actor)
    return row


def resume(pause_id: uuid.UUID | str, *, actor: str, reason: str) -> StepResume:
    """End a pause: its held items drain at the configured rate (``pipelines.drain``)."""
    from pipelines import drain
    from pipelines.remediation import check_who

    actor, reason = check_who(actor, reason)
    try:
        row = StepPause.objects.filter(pk=uuid.UUID(str(pause_id))).first()
    except ValueError:
        row = None
    if row is None:
        raise NotFound(f"no pause {pause_id}")
    try:
        with transaction.atomic():
            ended = StepResume.objects.create(
                pause=row,
                actor=actor,
                reason=reason,
                per_interval=drain.per_interval(),
                interval=drain.interval(),
                created_at=timezone.now(),
            )
            held = row.holds.count()
            _audit(RESUME_ACTION, row, actor, reason, {"held": held, "perInterval": ended.per_interval})
            transaction.on_commit(lambda: drain.start(row.id))
    except IntegrityError:
        raise FailedPrecondition(f"{row} was already resumed")
    invalidate()
    log.warning("step.resumed", pause_id=str(row.id), held=held, actor=actor)
    return ended


def find_active(pipeline: str, step: str, key: str = "", value: str = "") -> StepPause:
    row = active_rows().filter(pipeline=pipeline, step=step, key=key or "", value=value or "").first()
    if row is None:
        scope = f" for {key}={value}" if key else ""
        raise NotFound(f"{pipeline}.{step}{scope} is not paused")
    return row


def _audit(action: str, row: StepPause, actor: str, reason: str, result: dict[str, Any]) -> None:
    # A pause belongs to no order: the audit row's trace and target are the pause itself.
    OpsAction.objects.create(
        id=uuid.uuid4(),
        action=action,
        trace_id=row.id,
        target_id=row.id,
        actor=actor,
        reason=reason,
        preview_seq=None,
        result=result,
        created_at=timezone.now(),
    )


# -- the deadline seam ----------------------------------------------------------------------------------------
def extension(
    composition: Composition,
    pipeline: str,
    step: str,
    value: Any,
    *,
    since: datetime.datetime,
    until: datetime.datetime | None = None,
) -> datetime.timedelta:
    """How long, between ``since`` and ``until`` (now), a pause held this input at this step: what a deadline on a
    wait there is pushed back by. Overlapping pauses count once."""
    until = until or timezone.now()
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
