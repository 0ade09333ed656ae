"""`bin/cluster` takes every broker URL the settings take beyond one machine: Redis over TLS and AMQP over TLS too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cluster(broker: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``bin/cluster`` up to its first node: without a virtualenv (``VENV`` names none), ``bin/node prepare``
    cannot start Python, so nothing reaches a database or a broker."""
    env = {
        **os.environ,
        "VENV": str(tmp_path / "no-venv"),
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "CELERY_BROKER_URL": broker,
    }
    return subprocess.run(["bin/cluster"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("broker", ["redis://h:6379/0", "rediss://h:6380/0", "amqp://g:g@h//", "amqps://g:g@h//"])
def test_a_redis_or_rabbitmq_url_gets_past_the_broker_check(broker, tmp_path):
    done = cluster(broker, tmp_path)
    assert "CELERY_BROKER_URL must name" not in done.stderr
    assert "cluster: prepare" in done.stdout


@pytest.mark.parametrize("broker", ["", "filesystem://", "memory://"])
def test_a_broker_of_one_machine_is_refused(broker, tmp_path):
    done = cluster(broker, tmp_path)
    assert done.returncode == 2
    assert "CELERY_BROKER_URL must name" in done.stderr
