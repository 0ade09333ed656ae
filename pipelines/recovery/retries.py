"""Running a parked item's attempt: claim it, check the guard, resume from its last checkpoint."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from pipelines.contracts.steps import Command, StepStatus
from pipelines.engine import metrics
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.failures import parking
from pipelines.models import ParkedItem, ParkingOutcome
from pipelines.recovery import drain
from pipelines.store import claim_locks

log = structlog.get_logger("pipelines.retries")


def load_value(parked: ParkedItem) -> Any:
    """Rebuild the parked step's input from the database."""
    if parked.command is not None:
        return Command(parked.item_id, parked.command)
    model = checkpoint_models()[parked.item_type]
    if parked.merge_ids is not None:
        return list(model.objects.filter(pk__in=parked.merge_ids))
    return model.objects.get(pk=parked.item_id)


def run_attempt(parked_pk: uuid.UUID | str, attempt: int, worker: str = "", *, again: bool = False) -> str:
    """Run attempt ``attempt`` of a parked item once; returns what happened, for logs and tests.

    The attempt's lock (``claim_locks``) is held throughout: while another run holds it, this one answers
    ``claimed-elsewhere`` at once; once it is free, a claim without an outcome belongs to a run that died, and this
    run takes it over. ``again``: Celery runs the task again and it goes on with its own claim (``parking.claim``),
    which is what decides where the database has no such lock."""
    with claim_locks.working_on("attempt", uuid.UUID(str(parked_pk)), attempt) as alone:
        if alone is False:
            return "claimed-elsewhere"
        return _run_attempt(parked_pk, attempt, worker, again=again, alone=bool(alone))


def _run_attempt(parked_pk: uuid.UUID | str, attempt: int, worker: str, *, again: bool, alone: bool) -> str:
    parked = ParkedItem.objects.filter(pk=parked_pk).first()
    if parked is None:
        return "missing"
    if not parking.is_open_for(parked, attempt):
        return "closed"
    if drain.hold_parked(parked, attempt, lambda: load_value(parked)):  # paused: held unclaimed, nothing spent
        metrics.step_held(parked.pipeline, parked.step)
        return "paused"
    if not parking.claim(parked, attempt, worker, again=again, alone=alone):
        return "claimed-elsewhere"
    guard = composition().retry_guard
    reason = guard(parked.pipeline, parked.trace_id) if guard else None
    if reason:
        parking.resolve(parked, ParkingOutcome.CANCELLED, attempt, reason)
        log.info("retry.abandoned", parked_id=str(parked.pk), reason=reason)
        return "cancelled"
    execution = engine().run(
        parked.pipeline,
        load_value(parked),
        step=parked.step,
        event=parked.event,
        attempt=attempt,
        key=parked.idempotency_key,
        trace_id=parked.trace_id,
        branch=parked.branch,  # where it failed: a fork's first step has an input of the parent branch
        unpaused=True,
    )
    status = execution.first.status
    if status is not StepStatus.FAILED:
        parking.resolve(parked, ParkingOutcome.RESOLVED, attempt)
    log.info("retry.ran", parked_id=str(parked.pk), attempt=attempt, status=status)
    return status
