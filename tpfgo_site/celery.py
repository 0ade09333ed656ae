"""The Celery app: it only resumes parked work and sweeps; it never builds the synchronous chain."""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

import structlog
from celery import Celery, bootsteps, signals
from celery.apps import worker as celery_worker
from django_structlog.app_settings import app_settings as structlog_settings
from django_structlog.celery.receivers import CeleryReceiver

from tpfgo_site import logs, scrubbed_logs, worker_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")

app = Celery("tpfgo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TaskReceiver(CeleryReceiver):
    """django-structlog's task lines, a failure's and a retry's exception named by its class only (its text may quote
    what the task handed a dependency; ``tpfgo_site/scrubbed_logs.py``)."""

    logger = structlog.get_logger("django_structlog.celery.receivers")

    def receiver_task_retry(
        self, request: object = None, reason: object = None, einfo: object = None, **kwargs: object
    ) -> None:
        # ``reason`` is Celery's Retry exception (django-structlog types it ``str``, and logs its text).
        self.logger.log(
            structlog_settings.CELERY_TASK_NOTICE_LOG_LEVEL,
            "task_retrying",
            reason=scrubbed_logs.class_name(reason if isinstance(reason, BaseException) else None),
        )

    def receiver_task_failure(
        self,
        task_id: str | None = None,
        exception: BaseException | None = None,
        traceback: TracebackType | None = None,
        einfo: object = None,
        sender: type[object] | None = None,
        *args: object,
        **kwargs: object,
    ) -> None:
        log_vars: dict[str, Any] = {"task_id": task_id, "error": scrubbed_logs.class_name(exception)}
        self.add_duration_ms(sender, log_vars)
        if isinstance(exception, getattr(sender, "throws", ())):
            self.logger.log(structlog_settings.CELERY_TASK_FAILURE_LOG_LEVEL, "task_failed", **log_vars)
        else:
            self.logger.error("task_failed", exception=scrubbed_logs.class_only_traceback(exception), **log_vars)


class TaskLogStep(bootsteps.Step):
    """Log task start/success/failure and bind the task id into the task's log lines (django-structlog).

    django-structlog's own ``DjangoStructLogInitStep`` also reconnects the publish signals that its app already
    connected, so every enqueue would be logged twice; this step connects only the worker-side signals.
    """

    def __init__(self, parent: object, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.receiver = receiver = TaskReceiver()
        signals.task_prerun.connect(receiver.receiver_task_prerun)
        signals.task_retry.connect(receiver.receiver_task_retry)
        signals.task_success.connect(receiver.receiver_task_success)
        signals.task_failure.connect(receiver.receiver_task_failure)
        signals.task_revoked.connect(receiver.receiver_task_revoked)
        signals.task_unknown.connect(receiver.receiver_task_unknown)
        signals.task_rejected.connect(receiver.receiver_task_rejected)


app.steps["worker"].add(TaskLogStep)
worker_metrics.connect()


def _shutdown_notice(msg: str, f: object = None) -> None:
    logs.signal_safe_notice(msg, "celery.apps.worker")


# The worker's shutdown notices ("worker: Warm shutdown (MainProcess)") are printed from its signal handlers as
# plain text; they become JSON lines, still written without logging's locks.
celery_worker.safe_say = _shutdown_notice


@signals.setup_logging.connect
def use_django_logging(**kwargs: object) -> None:
    """Keep Django's LOGGING (JSON lines on stdout) in the worker instead of Celery's own format.

    ``--loglevel`` still sets the level of Celery's own loggers.
    """
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    level = kwargs.get("loglevel")
    if isinstance(level, int | str) and level:
        logging.getLogger("celery").setLevel(level)
