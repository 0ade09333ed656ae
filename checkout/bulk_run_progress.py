"""Reading a bulk run (docs/operations.md, "Bulk remediation"): how far it is, counted from its results; each
order's result in plan order; and the recent runs nobody is advancing (the Celery beat task continues those).
``checkout/bulk_remediation.py`` previews, stores and advances the runs."""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from typing import Any

from django.conf import settings

from checkout.bulk_run_ids import batch_action_id
from pipelines import Detail, InvalidArgument, NotFound, database_now
from pipelines.models import BulkRun, BulkRunResult, OpsAction


def run_of(run_id: object) -> BulkRun:
    """The bulk run of ``run_id``; ``INVALID_ARGUMENT`` when it is no id, ``NOT_FOUND`` when there is none."""
    try:
        wanted = uuid.UUID(str(run_id))
    except ValueError:
        raise InvalidArgument(f"{run_id!r} is not a bulk run id", [Detail("runId", "malformed")])
    run = BulkRun.objects.filter(pk=wanted).first()
    if run is None:
        raise NotFound(f"bulk run {wanted} not found")
    return run


def progress(run_id: object) -> dict[str, Any]:
    """How far the run is, counted from its results: done, skipped, failed, and whether its batch row exists."""
    run = run_of(run_id)
    counts = Counter(BulkRunResult.objects.filter(run=run).values_list("outcome", flat=True))
    processed = sum(counts.values())
    closed = OpsAction.objects.filter(pk=batch_action_id(run.id)).values_list("created_at", flat=True).first()
    return {
        "runId": str(run.id),
        "action": run.action,
        "actor": run.actor,
        "reason": run.reason,
        "total": run.total,
        "processed": processed,
        "done": counts.get(BulkRunResult.DONE, 0),
        "skipped": counts.get(BulkRunResult.SKIPPED, 0),
        "failed": counts.get(BulkRunResult.FAILED, 0),
        "percent": round(100 * processed / run.total) if run.total else 100,
        "finished": closed is not None,
        "batchOpsActionId": str(batch_action_id(run.id)) if closed else None,
        "submittedAt": run.created_at,
        "finishedAt": closed,
        "againOf": str(run.again_of) if run.again_of else None,
    }


def results(run_id: object) -> list[dict[str, Any]]:
    """Each order of the run in plan order, with its result once it has one."""
    run = run_of(run_id)
    stored = {r.trace_id: r for r in BulkRunResult.objects.filter(run=run)}
    out = []
    for order_id, seq, *_ in run.plan:
        row = stored.get(uuid.UUID(order_id))
        out.append(
            {
                "orderId": order_id,
                "expectedSeq": seq,
                "outcome": row.outcome if row else "pending",
                "detail": row.detail if row else "",
                "opsActionId": str(row.ops_action_id) if row and row.ops_action_id else None,
            }
        )
    return out


def unfinished(idle_seconds: float, *, limit: int = 20) -> list[uuid.UUID]:
    """Recent runs without their batch row and with no result for ``idle_seconds``: nobody is advancing them. Idle
    by the database's clock, not beat's node's: one whose clock was ahead took a run a console was advancing."""
    now = database_now()
    window = float(getattr(settings, "TPFGO_SWEEP_WINDOW_SECONDS", 86400))
    recent = BulkRun.objects.filter(created_at__gte=now - datetime.timedelta(seconds=window)).order_by("created_at")
    out = []
    for run in recent.only("id", "created_at")[:500]:
        if OpsAction.objects.filter(pk=batch_action_id(run.id)).exists():
            continue
        newest = BulkRunResult.objects.filter(run=run).order_by("-created_at").values_list("created_at", flat=True)
        last = newest.first() or run.created_at
        if (now - last).total_seconds() >= idle_seconds:
            out.append(run.id)
        if len(out) >= limit:
            break
    return out
