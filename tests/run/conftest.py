"""A real ``make run`` on free ports, in its own folder, with its own SQLite file and metrics directory."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300.0  # the first run may install the requirements
STOP_TIMEOUT = 30.0
_TOKEN = re.compile(r"API token\s+([0-9a-f]{40})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, ready: object, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
            pytest.fail(f"{what} within {timeout:.0f}s\n{tail}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Running:
    base: str
    grpc: str
    worker_metrics: str
    token: str
    folder: Path
    metrics_dir: Path
    log: Path


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Running]:
    port, grpc_port, worker_port = free_port(), free_port(), free_port()
    metrics_dir = tmp_path / "prometheus-multiproc"
    log = tmp_path / "run.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "TPFGO_"))},
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tpfgo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PORT": str(port),
        "GRPC_PORT": str(grpc_port),
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
        "TPFGO_RETRY_BASE_DELAY": "0.05",
        # As on a worker-only node: the Celery worker serves the node's samples on a port of its own too.
        "TPFGO_WORKER_METRICS_BIND": f"127.0.0.1:{worker_port}",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until("make run did not answer /healthz", lambda: answers(base + "/healthz"), START_TIMEOUT, log)
        found = _TOKEN.search(log.read_text(errors="replace"))
        assert found, log.read_text(errors="replace")[-4000:]
        yield Running(
            base, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{worker_port}", found.group(1), tmp_path, metrics_dir, log
        )
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever outlived the grace period
    except ProcessLookupError:
        pass
    process.wait()
