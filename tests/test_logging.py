"""Structured logs: JSON lines on stdout, with the request id on request lines and the engine's context on its own."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.models import ErrorSinkEntry, ParkedItem
from tests.lane import composition as lane
from tests.tracing import server_spans

ROOT = Path(__file__).resolve().parent.parent

REQUEST_HEALTHZ = """
import django
django.setup()
from django.test import Client
assert Client().get("/healthz").status_code == 200
"""

# What a Celery worker's main process does: its logging set up (our setup_logging receiver), then billiard's pool
# reports a pool process the kernel killed (docs/operations.md's runbook row for a pool process that died).
POOL_PROCESS_KILLED = """
from tpfgo_site.celery import app
app.log.setup_logging_subsystem(loglevel="INFO")
from billiard import util
util.get_logger()
util.error("Process %r pid:%r exited with %r", "ForkPoolWorker-2", 4242, "signal 9 (SIGKILL)", exc_info=0)
"""


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_python(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """A child Python process on the project settings (not pytest's); PATH, DATABASE_URL and the rest carry over."""
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings", "LOG_LEVEL": "INFO", **env}
    child_env.pop("TPFGO_LOG_STREAM", None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120, check=True
    )


def test_a_request_writes_json_lines_with_its_request_id_to_stdout():
    # The child must not inherit pytest's settings module; everything else (PATH, DATABASE_URL) carries over.
    done = run_python(["-c", REQUEST_HEALTHZ])

    lines = json_lines(done.stdout)  # every stdout line is JSON, or this raises
    events = {line["event"]: line for line in lines}
    assert events["request_started"]["request"] == "GET /healthz"
    assert events["request_finished"]["code"] == 200
    request_ids = {line["request_id"] for line in lines if line["event"].startswith("request_")}
    assert len(request_ids) == 1 and request_ids != {""}


@pytest.fixture
def stdout_log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the settings' ``stdout`` handler writes during the test.

    Under pytest that handler holds pytest's own capture stream (the one in place when Django configured logging),
    so it is pointed at a buffer here; the subprocess test above shows where it writes outside pytest.
    """
    handler = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: json_lines(buffer.getvalue())
    finally:
        handler.setStream(previous or sys.stdout)


@pytest.mark.django_db
def test_engine_lines_carry_the_pipeline_step_trace_and_item(lane_engine, stdout_log_lines):
    execution = lane_engine.start("ingest", {"text": "alpha beta"}, "doc-log")

    completed = [line for line in stdout_log_lines() if line["event"] == "step.completed"]
    steps = [(line["pipeline"], line["step"]) for line in completed]
    assert steps == [("ingest", "receive"), ("ingest", "tokenize"), ("ingest", "index"), ("publish", "publish")]
    trace_id = str(execution.first.checkpoints[0].trace_id)
    assert {line["trace_id"] for line in completed} == {trace_id}
    receive = execution.result("ingest", "receive")
    assert receive is not None
    assert completed[0]["checkpoint_id"] == str(receive.checkpoints[0].pk)
    tokenize = execution.result("ingest", "tokenize")
    assert tokenize is not None and completed[1]["checkpoint_id"] == str(tokenize.checkpoints[0].pk)
    assert completed[1]["item_id"] == str(receive.checkpoints[0].pk)  # its input: receive's output
    assert all(line["level"] == "info" and line["logger"] == "pipelines.runner" for line in completed)


@pytest.mark.django_db
def test_a_failing_steps_log_lines_name_its_input_as_the_error_sink_entry_and_parked_item_do(
    lane_engine, stdout_log_lines
):
    """An operator pastes a log line's item_id into the console's Error sink or Parked items search: it was the id
    of the checkpoint the step would have produced, which neither holds (nothing was produced)."""
    lane.FAILURES["index"] = "bug"
    lane_engine.start("ingest", {"text": "alpha"}, "doc-fails")

    parked = ParkedItem.objects.get()
    entry = ErrorSinkEntry.objects.get()
    line = next(line for line in stdout_log_lines() if line["event"] == "item.parked")
    assert line["item_id"] == str(parked.item_id) == str(entry.item_id)
    assert line["checkpoint_id"] != line["item_id"]


@pytest.mark.django_db
def test_a_console_search_and_a_token_in_the_address_stay_out_of_the_request_lines(client, stdout_log_lines):
    """The consumer list searches by name: the search is personal data, and a token is a credential; the request
    lines show every other parameter as sent, like the access line (tests/test_access_log_query.py)."""
    from tests.opsconsole.conftest import make_ops_user

    client.force_login(make_ops_user())
    assert client.get("/ops/checkout/consumer/?active__exact=1&q=Zephyrine+Quackenbush").status_code == 200
    client.get("/healthz?token=s3cret-key")

    requests = [
        line["request"] for line in stdout_log_lines() if line["event"] in ("request_started", "request_finished")
    ]
    assert requests == [
        "GET /ops/checkout/consumer/?active__exact=1&q=-",
        "GET /ops/checkout/consumer/?active__exact=1&q=-",  # before: the name, in both lines
        "GET /healthz?token=-",
        "GET /healthz?token=-",
    ]
    assert "Zephyrine" not in json.dumps(stdout_log_lines()) and "s3cret" not in json.dumps(stdout_log_lines())


@pytest.mark.django_db
def test_a_console_search_stays_out_of_the_requests_span(spans, client):
    from tests.opsconsole.conftest import make_ops_user

    client.force_login(make_ops_user())
    assert client.get("/ops/checkout/consumer/?active__exact=1&q=Zephyrine+Quackenbush").status_code == 200

    (span,) = server_spans(spans)
    assert (
        span.attributes["http.url"] == "http://testserver/ops/checkout/consumer/?active__exact=1&q=-"
    )  # before: the name
    assert "Zephyrine" not in json.dumps(dict(span.attributes))


def test_a_management_command_logs_json_to_stderr_and_leaves_stdout_to_its_result(tmp_path):
    isolated = {"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "TPFGO_VAR_DIR": str(tmp_path)}
    done = run_python(["manage.py", "migrate", "--noinput", "-v", "0"], **isolated)

    assert done.stdout == ""  # -v 0: no result to print, and no log line either
    events = [line["event"] for line in json_lines(done.stderr)]  # every stderr line is JSON, or this raises
    assert "wal_checkpoint.started" in events  # the SQLite checkpoint thread's start, logged by every process


def test_a_log_record_with_a_traceback_is_one_json_line():
    # The settings' own formatter, on a handler of this test's (the shared one holds pytest's capture stream).
    configured = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(configured.formatter)
    logger = logging.getLogger("tests.traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed.here")
    finally:
        logger.removeHandler(handler)

    (line,) = json_lines(buffer.getvalue())
    assert (line["event"], line["level"], line["logger"]) == ("failed.here", "error", "tests.traceback")
    assert "Traceback" in line["exception"] and "ValueError: boom" in line["exception"]


def test_a_worker_pool_process_killed_is_a_json_line_on_stdout(tmp_path):
    """billiard's logger does not propagate: without a handler of its own, Python printed the bare text on stderr."""
    isolated = {"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "TPFGO_VAR_DIR": str(tmp_path)}
    done = run_python(["-c", POOL_PROCESS_KILLED], **isolated)

    assert done.stderr == ""
    (line,) = [line for line in json_lines(done.stdout) if line["logger"] == "multiprocessing"]
    assert (line["event"], line["level"]) == (
        "Process 'ForkPoolWorker-2' pid:4242 exited with 'signal 9 (SIGKILL)'",
        "error",
    )
