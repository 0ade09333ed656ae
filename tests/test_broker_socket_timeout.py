"""A Redis broker that stops answering on a connection already open costs a publish, and a readiness check,
``TPFGO_BROKER_SOCKET_TIMEOUT`` seconds per attempt (kombu's ``socket_timeout``, ``tpfgo_site/settings.py``; a
readiness check ``TPFGO_READINESS_BROKER_TIMEOUT`` where that is lower); unset, each waited for the answer forever,
and a request that parks a retry with it.

The broker is a Redis of the test's own, stopped (SIGSTOP) once the publisher's connection is open: the kernel
still takes the bytes and accepts new connections, and nothing answers, as when the broker's host vanished or a
firewall started dropping its packets. The publisher runs in a process of its own, started with the broker's URL
(the settings read it at start) and killed if it is still waiting after a minute, so the test cannot hang.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.cluster import ROOT, RedisBroker, wait_until

PUBLISH = """
import sys
import django
django.setup()
from pipelines.tasks import PUBLISH_ONCE
from tpfgo_site.celery import app
from tpfgo_site.health import broker_check
said = open(sys.argv[1], "a", buffering=1)
app.send_task("pipelines.sweep", retry_policy=PUBLISH_ONCE)
said.write("published\\n")
sys.stdin.readline()  # the broker stops answering meanwhile
try:
    app.send_task("pipelines.sweep", retry_policy=PUBLISH_ONCE)
except Exception as exc:
    said.write(f"{type(exc).__name__} {exc}\\n")
said.write(broker_check() + "\\n")
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisBroker]:
    redis = RedisBroker(tmp_path)
    try:
        redis.start()
        yield redis
    finally:
        if redis.group.process is not None:
            redis.group.signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only once it runs again
        redis.stop()


def test_a_publish_to_a_redis_broker_that_stopped_answering_gives_up_after_the_socket_timeout(
    broker: RedisBroker, tmp_path: Path
) -> None:
    env = {**os.environ, "CELERY_BROKER_URL": broker.url, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings"}
    env["TPFGO_BROKER_SOCKET_TIMEOUT"] = "1.5"  # above the worker's BRPOP wait (1 s), as the default (5 s) is
    said, log = tmp_path / "said", tmp_path / "publisher.log"
    said.touch()
    with log.open("w") as out:
        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISH, str(said)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_until("the first publish", lambda: said.read_text() or publisher.poll() is not None, 60, log)
        assert said.read_text() == "published\n", log.read_text()
        broker.group.signal(signal.SIGSTOP)
        assert publisher.stdin is not None
        publisher.stdin.write("go\n")
        publisher.stdin.close()
        try:
            publisher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the publish still waited for the broker's answer after a minute")
    finally:
        publisher.kill()
        publisher.wait()
    assert publisher.returncode == 0, log.read_text()
    assert said.read_text().splitlines() == [
        "published",
        "OperationalError Timeout reading from socket",
        "failed: OperationalError",
    ]
