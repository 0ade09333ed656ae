"""Holding an item at a paused step: it is parked with reason PAUSED, and its step is not called.

The hold is the item's ``ParkedItem`` (the same row a failure would write) and a ``PausedItem`` naming the pause
and the attempt it will run. No error-sink entry is written and no attempt is scheduled or claimed, so the retry
budget is untouched. A held item is an open parked item (``OpenParked``): it counts toward the backlog bound, and
the sweeper never resumes its trace. The drain (``pipelines.recovery.drain``) releases it after the resume.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from django.db import IntegrityError, transaction

from pipelines.contracts.status import Unavailable
from pipelines.failures import parking
from pipelines.models import ParkedItem, PausedItem, PauseRelease
from pipelines.store import clock

if TYPE_CHECKING:
    from pipelines.contracts.declarations import Pipeline, Step
    from pipelines.contracts.steps import Item

log = structlog.get_logger("pipelines.holds")

PAUSED = parking.PAUSED


def hold(
    spec: Pipeline, step: Step, item: Item, event: Mapping[str, Any] | None, attempt: int, pause_id: uuid.UUID
) -> bool:
    """Park an item that reached a paused step (reason PAUSED); False when its hold was already released (this
    process's view of the pauses is behind a resume), so the step runs."""
    now = clock.reckoned()  # the database's, as the resume and releases that follow (pipelines.store.clock)
    try:
        with transaction.atomic():
            parked = parking.parked_row(spec, step, item, event, now)
            if event is not None and parked.event != dict(event):
                # The item is already parked here without this event (it reached the paused step before the event
                # came): a parked row is insert-only, so the event could not ride on it and would be lost.
                raise Unavailable(
                    f"step {spec.name}/{step.name} is paused and already holds this item without this event;"
                    " send it again after the resume"
                )
            return hold_at(parked, pause_id, attempt, now)
    except IntegrityError:  # a concurrent run held the same item first
        return True


def hold_at(parked: ParkedItem, pause_id: uuid.UUID, attempt: int, now: datetime.datetime) -> bool:
    existing = PausedItem.objects.filter(parked=parked, pause_id=pause_id).first()
    if existing is not None:
        return not PauseRelease.objects.filter(hold=existing).exists()
    PausedItem.objects.create(parked=parked, pause_id=pause_id, attempt=attempt, created_at=now)
    log.info("item.paused", parked_id=str(parked.pk), pause_id=str(pause_id), attempt=attempt, reason=PAUSED)
    return True
