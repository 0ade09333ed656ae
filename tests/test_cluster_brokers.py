"""`bin/cluster` takes every broker URL the settings take beyond one machine: Redis over TLS and AMQP over TLS too;
its banner names its own nodes' addresses."""

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


def stub_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A virtualenv whose ``python`` only records each call with the addresses it was given, and fails at
    ``bootstrap`` (the banner, the last step of ``bin/node prepare``), so the cluster stops there."""
    calls = tmp_path / "calls"
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        "#!/bin/sh\n"
        f'echo "$* PORT=${{PORT:-}} GRPC_PORT=${{GRPC_PORT:-}} METRICS=${{TPFGO_GRPC_METRICS_BIND:-}}" >> {calls}\n'
        'case "$*" in *bootstrap*) exit 3;; esac\n'
    )
    python.chmod(0o755)
    return python.parent.parent, calls


@pytest.mark.parametrize(
    ("bases", "addresses"),
    [
        ({}, "PORT=8001 GRPC_PORT=50061 METRICS=127.0.0.1:9909"),
        (
            {"PORT_BASE": "47001", "GRPC_PORT_BASE": "47011", "GRPC_METRICS_PORT_BASE": "47021"},
            "PORT=47001 GRPC_PORT=47011 METRICS=127.0.0.1:47021",
        ),
    ],
)
def test_the_banner_names_web_node_1_not_the_single_node_defaults(bases, addresses, tmp_path):
    venv, calls = stub_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "GRPC_PORT", "TPFGO_GRPC_METRICS_BIND")}
    env.update(
        VENV=str(venv),
        TPFGO_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        CELERY_BROKER_URL="redis://h:6379/0",
        **bases,
    )
    done = subprocess.run(["bin/cluster"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3  # bin/node prepare stopped at the stub's bootstrap: no node was started
    (banner,) = [line for line in calls.read_text().splitlines() if line.startswith("manage.py bootstrap ")]
    assert banner == f"manage.py bootstrap {addresses}"  # before: PORT= GRPC_PORT= METRICS= (:8000, :50051)


def test_ports_two_nodes_would_share_are_refused_before_any_node_starts(tmp_path):
    """14 queue groups (queue mode) with worker metrics at 18721 on reach 18731, grpc1's metrics port: the cluster
    started both, and the second to bind served no metrics. Now it names the port and both owners and starts
    nothing."""
    venv, calls = stub_venv(tmp_path)
    python = venv / "bin" / "python"
    groups = "\\n".join(["celery", "tpfgo-timers", *(f"tpfgo.p{i}" for i in range(12))])
    python.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\ncase "$*" in "manage.py queues") printf "{groups}\\n";; esac\n'
    )
    env = {
        **os.environ,
        "VENV": str(venv),
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "CELERY_BROKER_URL": "redis://h:6379/0",
        "WORKER_METRICS_PORT_BASE": "18721",
        "GRPC_METRICS_PORT_BASE": "18731",
    }
    done = subprocess.run(["bin/cluster"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == (
        "cluster: port 18731 is both grpc1 (metrics)'s and worker11 (metrics)'s: move PORT_BASE, GRPC_PORT_BASE,"
        " GRPC_METRICS_PORT_BASE or WORKER_METRICS_PORT_BASE apart (this cluster has 2 web and 14 worker nodes)\n"
    )
    assert " started (pid " not in done.stdout
    assert not (tmp_path / "var" / "cluster" / "web1.log").exists()
