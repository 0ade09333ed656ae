"""A Celery worker outlives a restart of its Redis broker (``tpfgo_site/redis_broker.py``).

The test starts a Redis of its own on a free port (it restarts it), and a real worker on it that holds an
unacknowledged message (a resume due in ten minutes, held by the worker until then) when Redis goes away. On
kombu's own Redis transport that worker exits ("Unrecoverable error: AttributeError(\"'NoneType' object has no
attribute 'hostname'\")"); here it reconnects and runs what is published after the restart, on ``redis://`` and
on ``rediss://`` (TLS) alike.

A ``rediss://`` broker's certificate is verified unless the URL says otherwise (``tpfgo_site/settings.py``); the
last test checks that in processes started with such URLs, against a TLS Redis whose CA no system trusts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import tasks
from tests.integration.conftest import Worker, process_env, publishing_to, wait_for
from tests.scaleout.cluster import ROOT, RedisBroker

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["redis", "rediss"])
def own_redis(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisBroker]:
    """A Redis of this test's own, plain or TLS only; this process publishes to it while the test runs."""
    redis = RedisBroker(tmp_path, tls=request.param == "rediss")
    try:
        redis.start()  # inside: a Redis that never answers is stopped too
        with publishing_to(redis.url, monkeypatch):
            yield redis
    finally:
        redis.stop()


def _resume(countdown: float | None = None) -> str:
    """A resume of a trace that does not exist (the worker answers it with one query); its task id."""
    task_id = str(uuid.uuid4())
    tasks.resume_trace.apply_async((str(uuid.uuid4()), 1), task_id=task_id, countdown=countdown)
    return task_id


def _succeeded(worker: Worker) -> set[str]:
    """The ids of the resumes the worker ran (beat's sweeps run beside them)."""
    lines = (json.loads(line) for line in worker.output().splitlines() if '"logger": "celery.app.trace"' in line)
    return {line["data"]["id"] for line in lines if line["data"]["name"] == "pipelines.resume_trace"}


def test_a_worker_holding_an_unacknowledged_message_serves_again_after_redis_restarts(
    own_redis: RedisBroker, tmp_path: Path
) -> None:
    worker = Worker(tmp_path / "worker.log", process_env(CELERY_BROKER_URL=own_redis.url))
    try:
        held = _resume(countdown=600)  # reserved by the worker, unacknowledged until it is due
        first = _resume()
        wait_for(lambda: first in _succeeded(worker), 30, what="the first resume", worker=worker)
        assert held in worker.output() and held not in _succeeded(worker)

        own_redis.restart()  # everything queued in it is gone (no persistence): the sweeper's part, not this test's
        wait_for(lambda: worker.output().count("Connected to") >= 2, 30, what="the worker to reconnect", worker=worker)
        after = _resume()
        wait_for(lambda: after in _succeeded(worker), 30, what="a resume published after the restart", worker=worker)

        assert worker.process.poll() is None, "the worker exited"
        assert "Unrecoverable error" not in worker.output()
        assert _succeeded(worker) == {first, after}
    finally:
        worker.stop()


QUICK_RECONNECT = Path(__file__).resolve().parent / "quick_reconnect"


@pytest.mark.parametrize("own_redis", ["redis"], indirect=True)
def test_a_worker_outlives_a_redis_outage_longer_than_celerys_reconnection_budget(
    own_redis: RedisBroker, tmp_path: Path
) -> None:
    """docs/operations.md's runbook: while Redis is down the worker "keeps retrying", and nothing is to be done on
    it once Redis is back. Celery gives up after ``broker_connection_max_retries`` tries (100: about 47 minutes at
    its 30 s cap) and exits ("Unrecoverable error: OperationalError"); under ``make run`` every server then stops.
    The worker here waits 0.02 s between tries (``quick_reconnect/sitecustomize.py``), so 150 tries take seconds."""
    env = process_env(CELERY_BROKER_URL=own_redis.url, PYTHONPATH=f"{QUICK_RECONNECT}:{ROOT}")
    worker = Worker(tmp_path / "worker.log", env)
    try:
        first = _resume()
        wait_for(lambda: first in _succeeded(worker), 30, what="the first resume", worker=worker)

        own_redis.stop()
        tries = lambda: worker.output().count("consumer: Cannot connect to")  # noqa: E731
        wait_for(lambda: tries() >= 150, 120, what="150 tries to reconnect", worker=worker)
        assert worker.process.poll() is None, "the worker exited"

        own_redis.start()
        wait_for(lambda: worker.output().count("Connected to") >= 2, 30, what="the worker to reconnect", worker=worker)
        after = _resume()
        wait_for(lambda: after in _succeeded(worker), 30, what="a resume published after the outage", worker=worker)
        assert "Unrecoverable error" not in worker.output()
        assert _succeeded(worker) == {first, after}
    finally:
        worker.stop()


_CONNECT = """
import django
django.setup()
from tpfgo_site.celery import app
try:
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=5)
        connection.default_channel.client.ping()
    print("connected")
except Exception as exc:
    print("refused:", exc)
"""


def _connect(url: str) -> str:
    """What a process started with ``url`` as its broker meets when it connects (its settings read the URL)."""
    env = process_env(CELERY_BROKER_URL=url)
    return subprocess.run(
        [sys.executable, "-c", _CONNECT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout


@pytest.mark.parametrize("own_redis", ["rediss"], indirect=True)
def test_a_rediss_broker_certificate_is_verified_unless_the_url_says_otherwise(own_redis: RedisBroker) -> None:
    assert own_redis.ca is not None
    plain = f"rediss://127.0.0.1:{own_redis.port}/0"
    assert "certificate verify failed" in _connect(plain)  # kombu alone would connect, unverified
    assert _connect(f"{plain}?ssl_ca_certs={own_redis.ca}").strip() == "connected"
    assert _connect(f"{plain}?ssl_cert_reqs=none").strip() == "connected"  # the operator's explicit choice
