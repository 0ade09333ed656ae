"""Celery beat task: tickets nobody answered before their deadline time out."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.utils import timezone

from pipelines.registry import engine

from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.ticket_created.models import TicketCreated

log = structlog.get_logger("checkout.tasks")


@shared_task(name="checkout.expire_acceptance", ignore_result=True)
def expire_acceptance(limit: int = 500) -> int:
    """Insert TIMED_OUT decisions for overdue tickets; a race with accept/reject/cancel has one winner."""
    decided = AcceptanceDecision.objects.values("order_id")
    overdue = TicketCreated.objects.filter(accept_by__lte=timezone.now()).exclude(order_id__in=decided)
    count = 0
    for ticket in overdue.order_by("accept_by")[:limit]:
        execution = engine().run(
            "restaurant-acceptance", ticket, step="acceptance_decision", event={"decidedBy": "TIMED_OUT"}
        )
        count += execution.first.status == "inserted"
    if count:
        log.info("acceptance.expired", tickets=count)
    return count
