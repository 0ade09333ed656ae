"""Real services for the failure-handling tests: Redis (a dedicated database, flushed) and Celery worker processes.

The worker runs ``tests.settings_worker`` on the test process's own PostgreSQL test database, so the tests are
transactional (their writes are committed and visible to the worker). On SQLite the in-memory test database
cannot be shared with another process: the tests skip there, and run in CI, which runs on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection

from checkout import demo
from tests import settings_worker
from tests.conftest import PgRoles
from tpfgo_site.celery import app

REDIS_URL = os.environ.get("TPFGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a worker process cannot share the in-memory SQLite test database; runs on PostgreSQL (CI)")


@pytest.fixture
def demo_data(db: None) -> None:
    demo.load()


@pytest.fixture
def broker(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A flushed Redis database; this process enqueues retries to it (on commit, as in production)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # on PostgreSQL (CI) these tests must run, so no skip here
        pytest.fail(f"Redis is required at {REDIS_URL} for the worker integration tests: {exc}")
    client.flushdb()
    settings.TPFGO_RETRY_ENQUEUE = "pipelines.tasks.enqueue_retry"
    settings.TPFGO_RETRY_POLICIES = settings_worker.TPFGO_RETRY_POLICIES  # a first failure here parks alike
    with publishing_to(REDIS_URL, monkeypatch):
        yield client
    client.flushdb()
    client.close()


@contextlib.contextmanager
def publishing_to(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process publishes to the Redis at ``url`` inside the block, and to its own broker again after it."""
    # Celery's settings read CELERY_BROKER_URL from the environment before app.conf: point both at ``url``.
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    _use_broker(url, {"visibility_timeout": 3600})
    try:
        yield
    finally:
        _use_broker(*saved)


def _use_broker(url: str, options: dict[str, Any]) -> None:
    app._pool = None  # kombu keeps one pool per broker URL; the next publish picks the new URL's pool
    app.amqp._producer_pool = None
    app.conf.broker_url = url
    app.conf.broker_transport_options = options


@pytest.fixture(autouse=True)
def _serving_role(_postgres_only: None, pg_roles: PgRoles, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process these tests start connects as the serving role (its grants only), as ``make run`` does."""
    monkeypatch.setenv("TPFGO_WORKER_DB_USER", pg_roles.app)


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a process that works on this test's database (as the serving role) and broker."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_worker",
        "TPFGO_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CELERY_BROKER_URL": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Worker:
    """``celery worker -B`` (beat embedded, so the sweeper runs every half second) in its own process group."""

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        self.log = log
        args = [
            str(BIN / "celery"),
            "-A",
            "tpfgo_site",
            "worker",
            "-B",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--schedule",
            str(log.with_suffix(".beat")),
            "-n",
            f"{log.stem}@%h",
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                args, env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(lambda: " ready." in self.output(), START_TIMEOUT, what="the worker to start", worker=self)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # no graceful drain: the tests own every message
            self.process.wait(timeout=15)


@pytest.fixture
def start_worker(tmp_path: Path, broker: redis.Redis) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(**env: str) -> Worker:
        workers.append(Worker(tmp_path / f"worker{len(workers)}.log", process_env(**env)))
        return workers[-1]

    yield start
    for worker in workers:  # before pytest-django flushes the database
        worker.stop()


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, *, what: str = "the condition", worker: Worker | None = None
) -> Any:
    """Poll until ``predicate()`` is truthy (bounded); fail with the worker's last log lines otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.process.poll() is not None:
            break
        time.sleep(0.1)
    tail = "\n".join(worker.output().splitlines()[-40:]) if worker else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")
