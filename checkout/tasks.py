"""Celery beat task: tickets nobody answered before their deadline time out."""

from __future__ import annotations

import structlog
from celery import shared_task

from pipelines import deadlines

log = structlog.get_logger("checkout.tasks")


@shared_task(name="checkout.expire_acceptance", ignore_result=True)
def expire_acceptance(limit: int = 500) -> int:
    """Time out the overdue tickets now (the engine's deadline pass, for the restaurant's wait only): the number
    of TIMED_OUT decisions inserted. A race with accept/reject/cancel has one winner."""
    fired = deadlines.expire(limit=limit, pipeline="restaurant-acceptance", step="acceptance_decision")
    count = sum(f.first_status == "inserted" for f in fired)
    if count:
        log.info("acceptance.expired", tickets=count)
    return count
