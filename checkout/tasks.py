"""Celery beat tasks: tickets nobody answered before their deadline time out; bulk remediations nobody advances
any more are finished."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from checkout import bulk_remediation
from checkout.models import OpenTicket
from checkout.ticket_created.models import TicketCreated
from pipelines import StepStatus, current_engine

log = structlog.get_logger("checkout.tasks")


@shared_task(name="checkout.expire_acceptance", ignore_result=True)
def expire_acceptance(limit: int = 500) -> int:
    """Insert TIMED_OUT decisions for overdue tickets; a race with accept/reject/cancel has one winner."""
    # OpenTicket (kept by the database, see checkout.derived) holds only undecided tickets, by deadline: the scan
    # costs what is overdue now, not every ticket ever decided.
    due = OpenTicket.objects.filter(accept_by__lte=timezone.now()).order_by("accept_by")
    overdue = TicketCreated.objects.filter(order_id__in=list(due.values_list("order_id", flat=True)[:limit]))
    count = 0
    for ticket in overdue.order_by("accept_by"):
        execution = current_engine().run(
            "restaurant-acceptance", ticket, step="acceptance_decision", event={"decidedBy": "TIMED_OUT"}
        )
        count += execution.first.status is StepStatus.INSERTED
    if count:
        log.info("acceptance.expired", tickets=count)
    return count


@shared_task(name="checkout.continue_bulk_remediation", acks_late=True, ignore_result=True)
def continue_bulk_remediation() -> int:
    """Finish bulk remediations nobody advances any more (the console tab closed, a process died mid-run): each
    continues from the results already stored, so no order is acted on twice."""
    idle = float(getattr(settings, "TPFGO_BULK_REMEDIATION_IDLE_SECONDS", 60))
    runs = bulk_remediation.unfinished(idle)
    for run_id in runs:
        shown = bulk_remediation.run_to_end(run_id)
        log.info("bulk_remediation.continued", run_id=str(run_id), processed=shown["processed"], total=shown["total"])
    return len(runs)
