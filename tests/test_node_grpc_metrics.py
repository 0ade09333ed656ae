"""`bin/node grpc` serves its metrics on a port of its own: the address it is given, else
127.0.0.1:$GRPC_METRICS_PORT (9908), as `make run` and the Procfile's grpc line do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def metrics_bind(tmp_path: Path, **extra: str) -> str:
    """The ``TPFGO_GRPC_METRICS_BIND`` that ``bin/node grpc`` gives ``manage.py grpcrunserver`` (a stub virtualenv's
    ``python`` records it; every other ``manage.py`` call passes, ``python -c`` is the real interpreter)."""
    seen = tmp_path / "seen"
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(
        f'#!/bin/sh\ncase "$1" in -c) exec {sys.executable} "$@";; esac\n'
        f'case "$*" in *grpcrunserver*) echo "${{TPFGO_GRPC_METRICS_BIND--}}" >> {seen};; esac\n'
    )
    (bin_dir / "python").chmod(0o755)
    cleared = ("TPFGO_GRPC_METRICS_BIND", "GRPC_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if k not in cleared}
    env.update(VENV=str(bin_dir.parent), TPFGO_VAR_DIR=str(tmp_path / "var"), **extra)
    done = subprocess.run(["bin/node", "grpc"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (line,) = seen.read_text().splitlines()
    return line


@pytest.mark.parametrize(
    ("environment", "bind"),
    [
        ({}, "127.0.0.1:9908"),
        ({"GRPC_METRICS_PORT": "9918"}, "127.0.0.1:9918"),
        ({"GRPC_METRICS_PORT": "9918", "TPFGO_GRPC_METRICS_BIND": "0.0.0.0:9100"}, "0.0.0.0:9100"),
    ],
)
def test_a_grpc_node_serves_its_metrics_on_its_own_port_given_or_not(tmp_path, environment, bind):
    """Before: unset, it served none, and its streams' gauges (and, with a folder of its own, its requests and
    step runs) reached no scrape."""
    assert metrics_bind(tmp_path, **environment) == bind
