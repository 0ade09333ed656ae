"""The real ``make run`` as a test fixture: bin/run on SQLite, free ports, its own ``TPFGO_VAR_DIR``.

``make_run()`` starts it in its own session and waits until HTTP, gRPC and the Celery worker are up; ``stop()``
sends a signal to its process group (what a terminal's Ctrl-C or a supervisor's SIGTERM reaches) and waits for
make to exit; ``leftovers()`` scans /proc for any process still carrying this run's ``TPFGO_VAR_DIR``. These tests
need no test database of pytest's: they read the run's own SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.checkout.conftest import order_body

# `make run` as a terminal starts it: with SIGINT and SIGQUIT at their defaults. A process started in the background
# of a non-interactive shell (a CI runner, `pytest &`) inherits them ignored, and bash cannot trap a signal it was
# started ignoring, so Ctrl-C would never reach bin/run's handler.
MAKE_RUN_AS_FROM_A_TERMINAL = """
import os, signal
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.execvp("make", ["make", "run"])
"""
START_TIMEOUT = 180.0  # a first start migrates a fresh SQLite file
STOP_BOUND = 30.0
BANNER_START = "TPFGo is starting:"
TOKEN_LINE = "  API token "


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, run: MakeRun | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if run is not None and run.process.poll() is not None:
            break
        time.sleep(0.05)
    tail = "\n".join(run.output().splitlines()[-40:]) if run else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


class MakeRun:
    """One ``make run`` process group; ``var`` and the SQLite file survive a stop, so a restart reuses them."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.var = home / "var"
        self.database = home / "tpfgo.sqlite3"
        self.port, self.grpc_port, self.grpc_metrics_port = free_port(), free_port(), free_port()
        self.log = home / f"run-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
            "TPFGO_VAR_DIR": str(self.var),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "CELERY_BROKER_URL": "filesystem://",
            "PORT": str(self.port),
            "GRPC_PORT": str(self.grpc_port),
            "GRPC_METRICS_PORT": str(self.grpc_metrics_port),
            "WEB_CONCURRENCY": "2",
            "CELERY_CONCURRENCY": "2",
            "TPFGO_RETRY_BASE_DELAY": "0.05",
            "TPFGO_PAYMENT_GATEWAY": "tests.system.gateway.SlowRetryGateway",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None  # type: ignore[assignment]

    def start(self, *, wait: bool = True) -> MakeRun:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MAKE_RUN_AS_FROM_A_TERMINAL],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if wait:
            wait_for(lambda: self.status("/healthz") == 200, START_TIMEOUT, "HTTP to answer", self)
            wait_for(lambda: "grpc.server_started" in self.output(), START_TIMEOUT, "the gRPC server", self)
            wait_for(lambda: '"celery@' in self.output() and ' ready."' in self.output(), 60, "Celery", self)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _banner_bounds(self) -> tuple[list[str], int, int]:
        """The banner is ``TPFGo is starting:`` and the indented lines after it."""
        lines = self.output().splitlines()
        start = lines.index(BANNER_START)
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
        return lines, start, end

    def banner(self) -> str:
        lines, start, end = self._banner_bounds()
        return "\n".join(lines[start:end]) + "\n"

    def after_banner(self) -> list[str]:
        lines, _, end = self._banner_bounds()
        return lines[end:]

    def token(self) -> str:
        line = next(line for line in self.output().splitlines() if line.startswith(TOKEN_LINE))
        return line.split()[2]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url(path),
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token()}", "Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read() or b"null")

    def place(self, key: str, **extra: Any) -> dict[str, Any]:
        status, view = self.api("POST", "/api/v1/orders", order_body(**extra), **{"Idempotency-Key": key})
        assert status == 201, view
        return dict(view)

    def state(self, order_id: str) -> str:
        status, view = self.api("GET", f"/api/v1/orders/{order_id}")
        assert status == 200, view
        return str(view["state"])

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, params).fetchall()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> float:
        """Signal the whole process group; the seconds until make and every process of the run are gone.

        Fails beyond ``STOP_BOUND``. make itself may exit first (a second signal kills it while bin/run still
        stops the servers), so the run counts as stopped only once no process carries its ``TPFGO_VAR_DIR``.
        """
        assert self.process is not None
        started = time.monotonic()
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make run did not stop within {STOP_BOUND:.0f}s\n{self.output()[-4000:]}")
        remaining = STOP_BOUND - (time.monotonic() - started)
        wait_for(lambda: not self.leftovers(), max(remaining, 0.1), "every process of the run to end")
        return time.monotonic() - started

    def leftovers(self) -> list[str]:
        """Every process (any session, any group) still running with this run's TPFGO_VAR_DIR: none may remain."""
        marker = f"TPFGO_VAR_DIR={self.var}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found.append(f"{proc.name}: {command}")
            except OSError:
                continue  # ended meanwhile, or not ours to read
        return found

    def kill(self) -> None:
        """Teardown only: whatever a failed test left behind."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        for line in self.leftovers():
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Callable[..., MakeRun]]:
    """``make_run(**env)``: a started ``make run`` (pass ``wait=False`` to get it without waiting)."""
    runs: list[MakeRun] = []

    def start(home: Path | None = None, *, wait: bool = True, **env: str) -> MakeRun:
        runs.append(MakeRun(home or tmp_path, **env))
        return runs[-1].start(wait=wait)

    yield start
    for run in runs:
        run.kill()
