"""Backlog figures for ``/metrics``: dead letters and overdue parked items per pipeline and step.

Computed from the database when scraped (a collector), so every process reports the same truth. They are figures
for dashboards and alerts, never a readiness signal: ``/readyz`` stays about this instance (database, broker).
They read ``OpenParked`` (the open failures, kept by triggers), so a scrape costs what is open, not the history,
and a dead letter counts until ops end it, however old.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import structlog
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from pipelines.engine import metrics
from pipelines.models import OpenParked, RetryClaim, RetryScheduled
from pipelines.recovery import resume

log = structlog.get_logger("pipelines.backlog")

DEAD = "tpfgo_dead_letters"
OVERDUE = "tpfgo_parked_overdue"
WAITING = "tpfgo_parked_waiting"

metrics.describe(DEAD, "gauge", "Dead-lettered items waiting for ops, per pipeline and step.")
metrics.describe(
    OVERDUE, "gauge", "Parked items whose next attempt is due for longer than the sweep grace period and unclaimed."
)
metrics.describe(WAITING, "gauge", "Parked items waiting for a retry (not dead-lettered), per pipeline and step.")


def _grouped(items: QuerySet[OpenParked]) -> Iterable[tuple[str, str, int]]:
    rows = items.values("pipeline", "step").annotate(n=Count("parked_id")).order_by("pipeline", "step")
    return [(row["pipeline"], row["step"], row["n"]) for row in rows]


def collect(now: datetime.datetime | None = None) -> list[metrics.Sample]:
    now = now or timezone.now()
    waiting = OpenParked.objects.filter(dead_at__isnull=True)
    due = RetryScheduled.objects.filter(parked=OuterRef("parked_id"), due_at__lte=now - resume.grace()).filter(
        ~Exists(RetryClaim.objects.filter(parked=OuterRef("parked"), attempt=OuterRef("attempt")))
    )
    samples: list[metrics.Sample] = []
    for name, queryset in (
        (DEAD, OpenParked.objects.filter(dead_at__isnull=False)),
        (WAITING, waiting),
        (OVERDUE, waiting.filter(Exists(due))),
    ):
        samples += [(name, {"pipeline": p, "step": s}, float(n)) for p, s, n in _grouped(queryset)]
    return samples


def safe_collect() -> list[metrics.Sample]:
    """A scrape must answer even when the database does not: the figures are then left out."""
    try:
        return collect()
    except Exception as exc:  # noqa: BLE001  (the scrape's outer boundary: other figures must still render)
        log.warning("backlog.unavailable", error=f"{type(exc).__name__}: {exc}"[:200])
        return []


def register() -> None:
    metrics.register_collector(safe_collect)
