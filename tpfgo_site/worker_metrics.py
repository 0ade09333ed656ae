"""Celery's side of the metrics: task outcomes, ended pool processes, and a worker-only node's own metrics port.

Outcomes are counted from Celery's signals in the process that ran the task; with ``PROMETHEUS_MULTIPROC_DIR``
set they join the web's ``/metrics`` on the same node, and a worker-only node (``TPFGO_WORKER_METRICS_BIND``)
serves its own processes' samples on a port of its own (docs/operations.md).
"""

from __future__ import annotations

import collections
import os

import structlog
from billiard.exceptions import TimeLimitExceeded
from celery import signals
from prometheus_client import Counter

log = structlog.get_logger("tpfgo_site.worker_metrics")

TASKS = Counter(
    "tpfgo_celery_tasks_total",
    "Celery tasks ended, per task name and outcome (succeeded, failed, retried, revoked, rejected, unknown).",
    ["outcome", "task"],
)


def _name(sender: object = None, request: object = None) -> str:
    named = getattr(sender, "name", None) or getattr(request, "task", None) or getattr(request, "name", None)
    return str(named or sender or "unknown")


def succeeded(sender: object = None, **_: object) -> None:
    TASKS.labels("succeeded", _name(sender)).inc()


# Celery sends task_failure twice for a task killed at its hard time limit (when it cuts the task, and again when the
# pool reports the job lost): the second is not another failure. The ids are few: one per task cut in this process.
_CUT_IDS: collections.OrderedDict[str, None] = collections.OrderedDict()
_CUT_IDS_KEPT = 1000


def failed(sender: object = None, task_id: str | None = None, exception: object = None, **_: object) -> None:
    if isinstance(exception, TimeLimitExceeded) and task_id is not None:
        if task_id in _CUT_IDS:
            return
        _CUT_IDS[task_id] = None
        if len(_CUT_IDS) > _CUT_IDS_KEPT:
            _CUT_IDS.popitem(last=False)
    TASKS.labels("failed", _name(sender)).inc()


def retried(sender: object = None, request: object = None, **_: object) -> None:
    TASKS.labels("retried", _name(sender, request)).inc()


def revoked(sender: object = None, request: object = None, **_: object) -> None:
    TASKS.labels("revoked", _name(sender, request)).inc()


def rejected(message: object = None, **_: object) -> None:
    headers = getattr(message, "headers", None) or {}
    TASKS.labels("rejected", str(headers.get("task", "unknown"))).inc()


def unknown(name: str = "unknown", **_: object) -> None:
    TASKS.labels("unknown", name).inc()


def pool_process_ended(**_: object) -> None:
    from pipelines import metrics

    metrics.process_ended(os.getpid())


def serve_port(**_: object) -> None:
    """On a worker-only node: serve this node's metrics directory on ``TPFGO_WORKER_METRICS_BIND``."""
    from django.conf import settings

    from pipelines import metrics

    bind = settings.TPFGO_WORKER_METRICS_BIND
    if not bind:
        return
    log.info("worker.metrics_port", address=metrics.serve(bind, metrics.registry(scrape_time=False)))


def connect() -> None:
    signals.task_success.connect(succeeded, weak=False, dispatch_uid="tpfgo.metrics.success")
    signals.task_failure.connect(failed, weak=False, dispatch_uid="tpfgo.metrics.failure")
    signals.task_retry.connect(retried, weak=False, dispatch_uid="tpfgo.metrics.retry")
    signals.task_revoked.connect(revoked, weak=False, dispatch_uid="tpfgo.metrics.revoked")
    signals.task_rejected.connect(rejected, weak=False, dispatch_uid="tpfgo.metrics.rejected")
    signals.task_unknown.connect(unknown, weak=False, dispatch_uid="tpfgo.metrics.unknown")
    signals.worker_process_shutdown.connect(pool_process_ended, weak=False, dispatch_uid="tpfgo.metrics.pool")
    signals.worker_ready.connect(serve_port, weak=False, dispatch_uid="tpfgo.metrics.port")
