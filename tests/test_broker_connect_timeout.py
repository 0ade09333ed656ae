"""A Redis broker host that drops packets costs a publish, and a readiness check, ``TPFGO_BROKER_CONNECT_TIMEOUT``
seconds (kombu's ``socket_connect_timeout``, ``tpfgo_site/settings.py``; a readiness check
``TPFGO_READINESS_BROKER_TIMEOUT`` where that is lower), not the system's TCP connect timeout (about 2 minutes on
Linux), which a request that parks a retry waited out on its one publish attempt.

The broker is a local blackhole: a listener whose one-place accept queue is full, so the kernel drops every further
SYN, as a firewall that drops packets does. The publish runs in a process of its own, started with the broker's URL
(the settings read it at start) and killed if it is still waiting after a minute, so the test cannot hang.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLISH = """
import django
django.setup()
from pipelines.tasks import PUBLISH_ONCE
from tpfgo_site.celery import app
from tpfgo_site.health import broker_check
try:
    app.send_task("pipelines.sweep", retry_policy=PUBLISH_ONCE)
except Exception as exc:
    print(type(exc).__name__, exc)
print(broker_check())
"""


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A broker URL whose host takes no connection and refuses none."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    queued = socket.create_connection(("127.0.0.1", port))  # fills the accept queue: later SYNs are dropped
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        queued.close()
        listener.close()


def test_a_publish_to_a_redis_host_that_drops_packets_gives_up_after_the_connect_timeout(blackhole):
    env = {**os.environ, "CELERY_BROKER_URL": blackhole, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings"}
    env.pop("TPFGO_BROKER_CONNECT_TIMEOUT", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", PUBLISH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the publish still waited for the broker's host after a minute")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["OperationalError Timeout connecting to server", "failed: OperationalError"]
