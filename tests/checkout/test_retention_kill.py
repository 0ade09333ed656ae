"""A purge process SIGKILLed in the middle of a batch (its deletes done, not committed) leaves no partial order:
every order is either whole or gone with its tombstone, and only committed batches left purge records.

The purge runs in a real subprocess (``tests.checkout.purge_stalling``). On PostgreSQL it connects as the purge
role (``DATABASE_PURGE_URL``: the grants of ``setup_db_roles``); on SQLite the in-memory test database is copied
to a file for it and copied back afterwards.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from checkout import demo
from pipelines.models import Checkpoint, CheckpointLog, LineageLink, PurgeRecord, Tombstone, Trace
from tests.checkout.test_retention import clone, old_template

pytestmark = pytest.mark.django_db(transaction=True)


def rows_of(trace_id: Any) -> dict[str, int]:
    """Every row that names this trace, per table."""
    counts = {
        m._meta.db_table: m._base_manager.filter(trace_id=trace_id).count()
        for m in apps.get_models()
        if issubclass(m, Checkpoint)
    }
    counts["pipelines_checkpointlog"] = CheckpointLog.objects.filter(trace_id=trace_id).count()
    counts["pipelines_lineagelink"] = LineageLink.objects.filter(trace_id=trace_id).count()
    counts["pipelines_trace"] = Trace.objects.filter(trace_id=trace_id).count()
    return {table: n for table, n in counts.items() if n}


@pytest.fixture
def database_for_a_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a process that works on this test's database (on SQLite: a file to copy it to)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_worker", "PYTHONUNBUFFERED": "1"}
    if connection.vendor == "postgresql":
        roles = request.getfixturevalue("pg_roles")
        host, port = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
        env.update(
            TPFGO_WORKER_DB_NAME=str(connection.settings_dict["NAME"]),
            TPFGO_WORKER_DB_USER=roles.app,
            DATABASE_PURGE_URL=f"postgres://{roles.purge}@{host}:{port}/unused",
        )
        yield env
        return
    path = tmp_path / "purge.sqlite3"
    env["TPFGO_WORKER_DB_NAME"] = str(path)
    yield env


def copy_out(env: dict[str, str]) -> None:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(env["TPFGO_WORKER_DB_NAME"]) as target:
            connection.connection.backup(target)


def wait_for_file(path: Path, process: subprocess.Popen[bytes], limit: float = 120.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    _, err = process.communicate(timeout=5) if process.poll() is not None else (b"", b"")
    pytest.fail(f"the purge process never reached its second batch\n{err.decode()[-3000:]}")


def test_killing_the_purge_mid_batch_leaves_no_partial_order(database_for_a_process, tmp_path):
    demo.load()
    template = old_template()
    clone(template, "kill", 39)
    whole = {str(t): rows_of(t) for t in Trace.objects.values_list("trace_id", flat=True)}
    assert len(whole) == 40 and len({tuple(sorted(r.items())) for r in whole.values()}) == 1
    copy_out(database_for_a_process)
    marker = tmp_path / "second-batch"

    process = subprocess.Popen(
        [sys.executable, "-m", "tests.checkout.purge_stalling", str(marker), "0"],
        env=database_for_a_process,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        stalled = wait_for_file(marker, process).split(",")
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    if connection.vendor == "sqlite":  # opening the file rolls back what the killed process left uncommitted
        with sqlite3.connect(database_for_a_process["TPFGO_WORKER_DB_NAME"]) as copied:
            copied.backup(connection.connection)

    buried = {str(t) for t in Tombstone.objects.values_list("trace_id", flat=True)}
    assert len(buried) == 10 and not buried & set(stalled)  # the first batch committed, the second did not
    for trace_id, rows in whole.items():
        assert rows_of(trace_id) == ({} if trace_id in buried else rows), trace_id
    (record,) = PurgeRecord.objects.all()
    assert record.items == 10 and record.rows["pipelines_trace"] == 10
