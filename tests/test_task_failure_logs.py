"""A Celery task that raises is logged by Celery ("Task … raised unexpected: …") and by django-structlog
(``task_failed``, from the worker's ``TaskReceiver``): both name each exception by its class only, the traceback
keeping its frames, since a task's exception may quote what it handed a dependency (``tpfgo_site/scrubbed_logs.py``).
The tasks run in this process through Celery's own tracer (``apply``), signals and log lines as a worker's."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from celery import signals

from pipelines import tasks
from tests.checkout.erasure_helpers import captured_logs
from tpfgo_site.celery import TaskReceiver

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Zq8VxEchoed4242"


@pytest.fixture
def task_failed_lines() -> Iterator[None]:
    """django-structlog's task lines as the worker connects them (``TaskLogStep``)."""
    receiver = TaskReceiver()
    signals.task_failure.connect(receiver.receiver_task_failure)
    signals.task_retry.connect(receiver.receiver_task_retry)
    yield
    signals.task_failure.disconnect(receiver.receiver_task_failure)
    signals.task_retry.disconnect(receiver.receiver_task_retry)


def failing_release(monkeypatch: pytest.MonkeyPatch, error: Exception) -> tuple[str, dict[str, dict]]:
    def broken() -> int:
        try:
            raise LookupError(f"no card {TOKEN}")
        except LookupError as cause:
            raise error from cause

    monkeypatch.setattr(tasks.sweeper, "release_due", broken)
    with captured_logs() as logged:
        tasks.release_due.apply()
    lines = [line for line in map(json.loads, logged().splitlines()) if "exception" in line]
    assert sorted(line["logger"] for line in lines) == ["celery.app.trace", "django_structlog.celery.receivers"]
    return logged(), {line["logger"]: line for line in lines}


def test_celerys_failure_line_names_the_exception_and_its_cause_by_class(monkeypatch, task_failed_lines):
    logged, lines = failing_release(monkeypatch, RuntimeError(f"gateway said: unknown card {TOKEN}"))
    assert TOKEN not in logged and "unknown card" not in logged
    trace = lines["celery.app.trace"]
    assert trace["event"].endswith("] raised unexpected: RuntimeError")
    assert trace["data"]["exc"] == "RuntimeError" and trace["data"]["traceback"] == trace["exception"]
    assert trace["exception"].startswith("Traceback (most recent call last):\n")
    assert trace["exception"].endswith("\nRuntimeError") and "in release_due" in trace["exception"]
    cause = "\nLookupError\n\nThe above exception was the direct cause of the following exception:\n"
    assert cause in trace["exception"]
    failed = lines["django_structlog.celery.receivers"]
    assert failed["event"] == "task_failed" and failed["error"] == "RuntimeError"
    assert failed["exception"] == trace["exception"]


def test_a_projects_exception_is_named_by_its_module_and_class(monkeypatch, task_failed_lines):
    from pipelines.contracts.status import Unavailable

    logged, lines = failing_release(monkeypatch, Unavailable(f"the gateway refused {TOKEN}"))
    assert TOKEN not in logged
    assert lines["django_structlog.celery.receivers"]["error"] == "pipelines.contracts.status.Unavailable"
    assert lines["celery.app.trace"]["event"].endswith(": pipelines.contracts.status.Unavailable")


def test_a_retry_line_names_when_it_runs_again_and_the_exception_by_class():
    from celery.app import trace
    from celery.exceptions import Retry
    from django.db.utils import OperationalError

    reason = Retry(exc=OperationalError(f"server closed the connection of {TOKEN}"), when=5)
    with captured_logs() as logged:
        try:
            raise reason
        except Retry:  # where Celery's tracer logs a retry (celery.app.trace.TraceInfo.handle_retry)
            trace.logger.info(trace.LOG_RETRY, {"id": "t-1", "name": "pipelines.sweep", "exc": str(reason)})
            TaskReceiver().receiver_task_retry(reason=reason)
    lines = [json.loads(line) for line in logged().splitlines()]
    assert TOKEN not in logged()
    assert [line["event"] for line in lines] == [
        "Task pipelines.sweep[t-1] retry: Retry in 5s: django.db.utils.OperationalError",
        "task_retrying",
    ]
    assert lines[1]["reason"] == "Retry in 5s: django.db.utils.OperationalError"
