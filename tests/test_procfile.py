"""The Procfile's lines, run as a process manager runs them (``sh -c``), start ``bin/node`` with the environment
README "Several nodes" and docs/operations.md describe."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What bin/node grpc and bin/node worker read of the Procfile's lines.
SHOWN = ("GRPC_PORT", "TPFGO_GRPC_METRICS_BIND", "TPFGO_WORKER_METRICS_BIND")
CLEARED = (*SHOWN, "GRPC_METRICS_PORT", "WORKER_METRICS_PORT")  # this process's own are not the test's


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def started(role: str, tmp_path: Path, **environment: str) -> list[str]:
    """The arguments ``bin/node`` gets from the Procfile's line for ``role``, then the variables of ``SHOWN`` it
    gets (``-`` when unset)."""
    node = tmp_path / "bin" / "node"
    node.parent.mkdir()
    shown = " ".join(f'"${{{name}--}}"' for name in SHOWN)
    node.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" {shown}\n', encoding="utf-8")
    node.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED} | environment
    command = procfile()[role]
    return subprocess.run(
        ["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()


@pytest.mark.parametrize(
    ("environment", "bind"),
    [
        ({}, "127.0.0.1:9908"),
        ({"GRPC_METRICS_PORT": "9918"}, "127.0.0.1:9918"),
        ({"GRPC_METRICS_PORT": "9918", "TPFGO_GRPC_METRICS_BIND": "0.0.0.0:9100"}, "0.0.0.0:9100"),
    ],
)
def test_the_procfiles_grpc_server_serves_its_streams_gauges(tmp_path, environment, bind):
    assert started("grpc", tmp_path, **environment) == ["grpc", "50051", bind, "-"]


@pytest.mark.parametrize(
    ("environment", "bind"),
    [
        ({}, "127.0.0.1:9808"),
        ({"WORKER_METRICS_PORT": "9818"}, "127.0.0.1:9818"),
        ({"WORKER_METRICS_PORT": "9818", "TPFGO_WORKER_METRICS_BIND": "0.0.0.0:9100"}, "0.0.0.0:9100"),
    ],
)
def test_the_procfiles_worker_serves_its_nodes_metrics(tmp_path, environment, bind):
    """A worker line is a worker-only node: its processes' samples are in its own folder, which no web node's
    /metrics reads (the Celery task outcomes, the sweeps, the retries' step runs: no alert saw them)."""
    assert started("worker", tmp_path, **environment) == ["worker", "-", "-", bind]
