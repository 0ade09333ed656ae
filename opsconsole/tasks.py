"""Celery tasks of the console: folding the checkpoint log into the dashboard funnel's per-day counts."""

from __future__ import annotations

import structlog
from celery import shared_task

from opsconsole import funnel

log = structlog.get_logger("opsconsole.tasks")


@shared_task(name="opsconsole.fold_funnel", ignore_result=True)
def fold_funnel() -> dict[str, int]:
    """Fold the log rows that are safe to fold (``opsconsole.funnel.fold``); idempotent, safe to overlap."""
    done = funnel.fold()
    log.info("funnel.folded", folded_seq=done.folded_seq, rows=done.rows, batches=done.batches)
    return {"folded_seq": done.folded_seq, "rows": done.rows, "batches": done.batches}
