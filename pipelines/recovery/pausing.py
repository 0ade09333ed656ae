"""Pausing and resuming a step, as ops do it (console, ``manage.py pause`` / ``resume``): validated, audited
(``OpsAction`` rows ``pause-step`` and ``resume-step``), and a resume hands the held items to the drain
(``pipelines.recovery.drain``). Docs: docs/operations.md, "Pausing a step".
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from django.db import IntegrityError, transaction

from pipelines.contracts.declarations import Composition
from pipelines.contracts.status import Detail, FailedPrecondition, InvalidArgument, NotFound
from pipelines.contracts.text import NOT_A_NAME
from pipelines.engine.pauses import active_rows, invalidate
from pipelines.models import OpsAction, StepPause, StepResume
from pipelines.recovery import deadlines, drain
from pipelines.recovery.actions import check_who
from pipelines.store import clock

log = structlog.get_logger("pipelines.pausing")

PAUSE_ACTION = "pause-step"
RESUME_ACTION = "resume-step"
MAX_VALUE = 200  # a pause key's value: StepPause.value's column


def storable_value(value: str) -> bool:
    """A pause key's value its column holds: at most ``MAX_VALUE`` characters, no control character."""
    return len(value) <= MAX_VALUE and not NOT_A_NAME.search(value)


def validate(composition: Composition, pipeline: str, step: str, key: str, value: str) -> str:
    """The value to store for a valid pause (the key's form of it: ``Composition.pause_values``), or
    ``INVALID_ARGUMENT``."""
    try:
        spec = composition.pipeline(pipeline)
        spec.step(step)
    except KeyError as exc:
        raise InvalidArgument(str(exc.args[0]), [Detail("step", "unknown")])  # str(exc) is its repr, quoted
    if spec.source_namespace is not None and spec.index(step) == 0:
        raise InvalidArgument(
            f"{pipeline}.{step} is where a command is first stored: nothing exists yet to hold there "
            "(TPFGO_BACKLOG_BOUND limits intake)",
            [Detail("step", "a source step cannot be paused")],
        )
    if value and not key:  # a value meant for one key, never a pause of every item
        raise InvalidArgument(
            "a value needs a pause key: name one, or give no value to pause every item", [Detail("key", "name=value")]
        )
    if key and not value:
        raise InvalidArgument("a pause key needs a value", [Detail("key", "name=value")])
    if not storable_value(value):
        issue = f"at most {MAX_VALUE} characters, no control characters"
        raise InvalidArgument(f"a pause key's value must be {issue}", [Detail("value", issue)])
    if key and key not in composition.pause_keys:
        known = ", ".join(sorted(composition.pause_keys)) or "none"
        raise InvalidArgument(f"no pause key named {key!r} (known: {known})", [Detail("key", "unknown")])
    check = composition.pause_values.get(key) if key else None
    try:
        return check(value) if check is not None else value
    except ValueError as exc:
        raise InvalidArgument(f"no input has {key}={value}: {exc}", [Detail("value", str(exc))])


def pause(
    composition: Composition, pipeline: str, step: str, *, key: str = "", value: str = "", actor: str, reason: str
) -> StepPause:
    """Pause a step (for one key value when given); refused when the same pause is already active."""
    actor, reason = check_who(actor, reason)
    key, value = (key or "").strip(), (value or "").strip()
    value = validate(composition, pipeline, step, key, value)
    with transaction.atomic():
        same = active_rows().filter(pipeline=pipeline, step=step, key=key, value=value).first()
        if same is not None:
            raise FailedPrecondition(  # who and why: a second operator learns whose pause it is
                f"{same} is already paused by {same.actor} since {same.created_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(because: {same.reason})"
            )
        row = StepPause.objects.create(
            id=uuid.uuid4(),
            pipeline=pipeline,
            step=step,
            key=key,
            value=value,
            actor=actor,
            reason=reason,
            created_at=clock.reckoned(),
        )
        _audit(PAUSE_ACTION, row, actor, reason, {"pipeline": pipeline, "step": step, "key": key, "value": value})
    invalidate()
    log.warning("step.paused", pause_id=str(row.id), pipeline=pipeline, step=step, key=key, value=value, actor=actor)
    return row


def resume(pause_id: uuid.UUID | str, *, actor: str, reason: str) -> StepResume:
    """End a pause: its held items drain at the configured rate (``pipelines.recovery.drain``), and the waits the
    deadline pass pushed while it lasted get their deadline with the pause counted (``deadlines.rearm``)."""
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
                created_at=clock.reckoned(),
            )
            held = row.holds.count()
            _audit(RESUME_ACTION, row, actor, reason, {"held": held, "perInterval": ended.per_interval})
            transaction.on_commit(lambda: drain.start(row.id))
            transaction.on_commit(lambda: deadlines.rearm(row.pipeline, row.step))
    except IntegrityError:
        first = StepResume.objects.filter(pause=row).first()
        by = f" by {first.actor} at {first.created_at:%Y-%m-%d %H:%M:%S} UTC (because: {first.reason})" if first else ""
        raise FailedPrecondition(f"{row} was already resumed{by}")
    invalidate()
    log.warning("step.resumed", pause_id=str(row.id), held=held, actor=actor)
    return ended


def key_value(composition: Composition, key: str, value: str) -> str:
    """The form a pause of this key stores ``value`` in (as given when the key does not check its values, or when
    it refuses this one: no pause then holds it)."""
    check = composition.pause_values.get(key) if key else None
    if check is None:
        return value
    try:
        return check(value)
    except ValueError:
        return value


def find_active(pipeline: str, step: str, key: str = "", value: str = "") -> StepPause:
    if not storable_value(value or ""):  # no pause holds such a value
        raise NotFound(f"{pipeline}.{step} is not paused for that value")
    row = active_rows().filter(pipeline=pipeline, step=step, key=key or "", value=value or "").first()
    if row is None:
        scope = f" for {key}={value}" if key else ""
        raise NotFound(f"{pipeline}.{step}{scope} is not paused")
    return row


def _audit(action: str, row: StepPause, actor: str, reason: str, result: dict[str, Any]) -> None:
    # A pause belongs to no trace: the audit row's trace and target are the pause itself.
    OpsAction.objects.create(
        id=uuid.uuid4(),
        action=action,
        trace_id=row.id,
        target_id=row.id,
        actor=actor,
        reason=reason,
        preview_seq=None,
        result=result,
        created_at=clock.reckoned(),
    )
