"""Celery tasks: tickets nobody answered before their deadline time out (``expire_acceptance``, run on demand: beat
runs the engine's ``pipelines.expire_waits`` for every await); bulk remediations nobody advances any more are
finished (``continue_bulk_remediation``, on beat)."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.conf import settings

from checkout import bulk_remediation, bulk_run_progress
from pipelines import StepStatus, deadlines

log = structlog.get_logger("checkout.tasks")


@shared_task(name="checkout.expire_acceptance", ignore_result=True)
def expire_acceptance(limit: int = 500) -> int:
    """Time out the overdue tickets now (the engine's deadline pass, for the restaurant's wait only): the number
    of TIMED_OUT decisions inserted. A race with accept/reject/cancel has one winner."""
    fired = deadlines.expire(limit=limit, pipeline="restaurant-acceptance", step="acceptance_decision")
    count = sum(f.first_status is StepStatus.INSERTED for f in fired)
    if count:
        log.info("acceptance.expired", tickets=count)
    return count


@shared_task(name="checkout.continue_bulk_remediation", acks_late=True, ignore_result=True)
def continue_bulk_remediation() -> int:
    """Finish bulk remediations nobody advances any more (the console tab closed, a process died mid-run): each
    continues from the results already stored, so no order is acted on twice."""
    idle = float(getattr(settings, "TPFGO_BULK_REMEDIATION_IDLE_SECONDS", 60))
    runs = bulk_run_progress.unfinished(idle)
    for run_id in runs:
        shown = bulk_remediation.run_to_end(run_id)
        log.info("bulk_remediation.continued", run_id=str(run_id), processed=shown["processed"], total=shown["total"])
    return len(runs)
