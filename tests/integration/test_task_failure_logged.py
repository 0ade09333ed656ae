"""A real worker's lines for a task that raises: Celery's "raised unexpected" line and django-structlog's
``task_failed`` name the exception by its class only, never its message (``tpfgo_site/scrubbed_logs.py``). Here
uuid.UUID's "badly formed hexadecimal UUID string": only the frame of uuid.py that raises it quotes it, as code."""

from __future__ import annotations

import json

import pytest

from pipelines import tasks
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_workers_failure_lines_name_the_exception_by_its_class_only(start_worker):
    worker = start_worker()
    tasks.drain_pause.delay("not-a-pause-id")
    wait_for(lambda: '"task_failed"' in worker.output(), what="the task to fail", worker=worker)
    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    failed = sorted((line for line in lines if "exception" in line), key=lambda line: line["logger"])
    assert [line["logger"] for line in failed] == ["celery.app.trace", "django_structlog.celery.receivers"]
    trace, task_failed = failed
    assert trace["event"].endswith("] raised unexpected: ValueError") and trace["data"]["exc"] == "ValueError"
    assert task_failed["event"] == "task_failed" and task_failed["error"] == "ValueError"
    for line in failed:
        assert "in drain_pause" in line["exception"] and line["exception"].endswith("\nValueError")
