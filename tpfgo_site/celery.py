"""The Celery app: it only resumes parked work and sweeps; it never builds the synchronous chain."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, bootsteps, signals
from django_structlog.celery.receivers import CeleryReceiver

from tpfgo_site import worker_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")

app = Celery("tpfgo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class TaskLogStep(bootsteps.Step):
    """Log task start/success/failure and bind the task id into the task's log lines (django-structlog).

    django-structlog's own ``DjangoStructLogInitStep`` also reconnects the publish signals that its app already
    connected, so every enqueue would be logged twice; this step connects only the worker-side signals.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.receiver = receiver = CeleryReceiver()
        signals.task_prerun.connect(receiver.receiver_task_prerun)
        signals.task_retry.connect(receiver.receiver_task_retry)
        signals.task_success.connect(receiver.receiver_task_success)
        signals.task_failure.connect(receiver.receiver_task_failure)
        signals.task_revoked.connect(receiver.receiver_task_revoked)
        signals.task_unknown.connect(receiver.receiver_task_unknown)
        signals.task_rejected.connect(receiver.receiver_task_rejected)


app.steps["worker"].add(TaskLogStep)
worker_metrics.connect()


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Keep Django's LOGGING (JSON lines on stdout) in the worker instead of Celery's own format.

    ``--loglevel`` still sets the level of Celery's own loggers.
    """
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if kwargs.get("loglevel"):
        logging.getLogger("celery").setLevel(kwargs["loglevel"])
