"""A readiness check (``/readyz``, the gRPC health) waits for a Redis broker that stopped answering at most
``TPFGO_READINESS_BROKER_TIMEOUT`` seconds (1 s; ``tpfgo_site.health.readiness_transport_options``), not the
publishes' ``TPFGO_BROKER_SOCKET_TIMEOUT`` (5 s), which outlasted a load balancer's probe timeout (1-5 s): the probe
timed out instead of reading ``degraded``.

The broker is a Redis of the test's own, stopped (SIGSTOP): the kernel still accepts connections, and nothing
answers. The publishes' socket timeout is set to ten minutes here, so a check that waited for it would wait past the
minute after which the test kills it (it cannot hang), while one bounded by its own timeout answers in a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.cluster import ROOT, RedisBroker

CHECK = """
import django
django.setup()
from tpfgo_site.health import broker_check
print(broker_check())
"""


@pytest.fixture
def stopped_broker(tmp_path: Path) -> Iterator[RedisBroker]:
    redis = RedisBroker(tmp_path)
    try:
        redis.start()
        redis.group.signal(signal.SIGSTOP)
        yield redis
    finally:
        if redis.group.process is not None:
            redis.group.signal(signal.SIGCONT)  # a stopped process acts on SIGTERM only once it runs again
        redis.stop()


def test_a_readiness_check_gives_up_on_a_redis_broker_that_stopped_answering_after_its_own_timeout(stopped_broker):
    env = {**os.environ, "CELERY_BROKER_URL": stopped_broker.url, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings"}
    env["TPFGO_BROKER_SOCKET_TIMEOUT"] = "600"
    env.pop("TPFGO_READINESS_BROKER_TIMEOUT", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the readiness check still waited for the broker's answer after a minute")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["failed: OperationalError"]
