"""Celery tasks: they only resume parked work and sweep; they never build the synchronous chain."""

from __future__ import annotations

import datetime
import socket
import uuid

import structlog
from celery import shared_task
from django.utils import timezone

from pipelines import retries
from pipelines.models import RetryScheduled

log = structlog.get_logger("pipelines.tasks")


@shared_task(name="pipelines.retry_parked", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def retry_parked(parked_id: str, attempt: int) -> str:
    return retries.run_attempt(parked_id, attempt, worker=socket.gethostname())


def enqueue_retry(parked_id: uuid.UUID, attempt: int, due: datetime.datetime) -> None:
    """Hand a scheduled attempt to the broker. Losing this message is harmless: the sweeper re-enqueues it."""
    try:
        retry_parked.apply_async((str(parked_id), attempt), eta=due)
    except Exception:  # the database row is the source of truth; the sweeper will find it
        log.exception("retry.enqueue_failed", parked_id=str(parked_id), attempt=attempt)


@shared_task(name="pipelines.sweep", ignore_result=True)
def sweep() -> int:
    """Re-enqueue due attempts that nobody claimed (their broker message was lost)."""
    now = timezone.now()
    count = 0
    due = RetryScheduled.objects.filter(due_at__lte=now).select_related("parked").order_by("due_at")[:500]
    for schedule in due:
        if schedule.parked.claims.filter(attempt=schedule.attempt).exists():
            continue
        retry_parked.apply_async((str(schedule.parked_id), schedule.attempt))
        count += 1
    return count
