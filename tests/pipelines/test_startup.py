"""Starting beside peers: one sweep per time slot however many beats ask, and no node serving a schema that is
behind its code (the PostgreSQL races are in tests/integration/test_startup_beside_peers.py)."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from pipelines import tasks
from pipelines.models import SweepTick
from pipelines.store import clock, schema

SLOT = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_a_sweep_claims_its_time_slot_once_and_a_second_ask_sweeps_nothing(settings, monkeypatch):
    settings.TPFGO_SWEEP_SECONDS = 30
    tick = int(SLOT.timestamp() // 30)
    database_time = iter(SLOT + datetime.timedelta(seconds=s) for s in (1, 1, 29, 31, 31))  # one read per pass
    monkeypatch.setattr(clock, "now", lambda: next(database_time))
    first = tasks.sweep()
    second = tasks.sweep()  # beat's second ask in the slot, or a second beat
    third = tasks.sweep()
    assert first["tick"] == tick
    assert second == {"tick_taken": 1}
    assert third["tick"] == tick + 1
    assert sorted(SweepTick.objects.values_list("tick", flat=True)) == [tick, tick + 1]


@pytest.mark.django_db
def test_a_beat_whose_clock_is_off_claims_the_slot_of_the_databases_clock(settings):
    settings.TPFGO_SWEEP_SECONDS = 30
    ahead = time_machine.travel(timezone.now() + datetime.timedelta(minutes=10), tick=False)
    with ahead:  # before: it claimed a slot ten minutes on, and a beat on time swept the same moment again
        claimed = tasks.sweep()["tick"]
    assert int(clock.now().timestamp() // 30) - claimed in (0, 1)
    assert list(SweepTick.objects.values_list("tick", flat=True)) == [claimed]


def test_beat_asks_for_a_sweep_twice_per_slot():
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-parked"]
    assert entry == {"task": "pipelines.sweep", "schedule": settings.TPFGO_SWEEP_SECONDS / 2}


@pytest.mark.django_db
def test_the_migrated_test_database_is_not_behind():
    assert schema.pending() == []
    schema.refuse_if_behind("the test")  # raises nothing


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a node whose database has none of its migrations (a new release, nobody migrated)."""
    folder = tmp_path_factory.mktemp("behind")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'empty.sqlite3'}",
        "TPFGO_VAR_DIR": str(folder),
        "CELERY_BROKER_URL": "memory://",
    }


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "manage.py", "check_schema"],
        ["bin/node", "web"],
        ["bin/node", "worker"],
        [sys.executable, "manage.py", "grpcrunserver", "127.0.0.1:0"],
    ],
    ids=["check_schema", "bin/node web", "bin/node worker", "grpcrunserver"],
)
def test_a_node_whose_schema_is_behind_refuses_to_start_and_says_what_to_do(command, empty_database):
    env = {**empty_database, "VENV": str(Path(sys.executable).parent.parent)}
    done = subprocess.run(command, env=env, cwd=settings.BASE_DIR, capture_output=True, timeout=120, check=False)
    output = (done.stdout + done.stderr).decode()
    assert done.returncode != 0, output[-2000:]
    assert "the database schema is behind this code" in output, output[-2000:]
    assert "Run 'manage.py migrate'" in output
    assert "Listening at" not in output and " ready." not in output  # no server came up
    assert not (Path(empty_database["TPFGO_VAR_DIR"]) / "empty.sqlite3").exists() or _tables(empty_database) == []


def _tables(env: dict[str, str]) -> list[str]:
    import sqlite3

    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def test_the_start_up_check_reads_again_when_the_database_refuses_the_read_for_now(db, monkeypatch):
    from django.db import OperationalError

    monkeypatch.setattr(schema, "READ_PAUSE", 0.001)
    answers: list[object] = [OperationalError("locking protocol"), OperationalError("locking protocol"), []]
    reads = []

    def pending(using: str = "default") -> list[str]:
        reads.append(using)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    monkeypatch.setattr(schema, "pending", pending)
    schema.refuse_beat_start()  # no error: the third read answered
    assert len(reads) == 3

    reads.clear()
    answers[:] = [OperationalError("locking protocol")] * schema.READ_ATTEMPTS
    with pytest.raises(OperationalError):  # still refused after every attempt: Celery logs it, as before
        schema.refuse_worker_start()
    assert len(reads) == schema.READ_ATTEMPTS


@pytest.mark.django_db
def test_a_worker_whose_clock_is_off_says_so_when_it_starts_while_later_work_waits_in_the_broker(settings):
    """Celery holds a broker-mode retry or drain release until its ETA by the worker's own clock."""
    from celery.signals import worker_init
    from structlog.testing import capture_logs

    assert clock.warn_worker_drift in worker_init._live_receivers(None)
    settings.TPFGO_DELAYED_DELIVERY = "broker"
    try:
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10), tick=False), capture_logs() as logs:
            clock.warn_worker_drift()
        with capture_logs() as in_sync:
            clock.warn_worker_drift()
        settings.TPFGO_DELAYED_DELIVERY = "database"
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=10), tick=False), capture_logs() as db:
            clock.warn_worker_drift()
    finally:
        clock.calibrate()
    [warned] = logs
    assert (warned["event"], warned["threshold_s"]) == ("clock.worker_drift", 2.0)
    assert 599 < warned["offset_s"] * -1 < 601  # the database's clock is 10 minutes behind this node's
    assert in_sync == [] and db == []
