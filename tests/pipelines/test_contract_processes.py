"""Real processes refuse to start on a broken composition, with the diagnostic, and start on a sound one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from pipelines.contracts import lock as contract_lock
from tests.lane import composition as lane

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
DIAGNOSTIC = (
    "pipelines.E014 (error) handoff type mismatch for publication 'lane.indexed.v1': producer ingest/index outputs "
    "DocumentIndexed, consumer publish/publish expects DocumentReceived (expected=DocumentReceived "
    "actual=DocumentIndexed)"
)
TIMEOUT = 60.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A process environment on tests.settings_broken, with its own var dir, database file and lane lock."""
    lock = tmp_path / "contracts.lock.json"
    for folder in ("queue", "processed"):  # kombu's filesystem transport expects its folders to exist
        (tmp_path / "var" / "broker" / folder).mkdir(parents=True)
    contract_lock.write(lock, contract_lock.updated(lane.COMPOSITION, None).lock)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_broken",
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TPFGO_CONTRACTS_LOCK": str(lock),
        "PYTHONUNBUFFERED": "1",
    }


class Started:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                args, env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[Started] = []

    def run(args: list[str], env: dict[str, str]) -> Started:
        started.append(Started(args, env, tmp_path / f"process-{len(started)}.log"))
        return started[-1]

    yield run
    for process in started:
        process.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def gunicorn(port: int) -> list[str]:
    return [str(BIN / "gunicorn"), "tpfgo_site.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"]


def worker() -> list[str]:
    return [str(BIN / "celery"), "-A", "tpfgo_site", "worker", "--pool=solo", "--loglevel=INFO"]


def test_the_celery_worker_refuses_a_broken_composition(start, env):
    process = start(worker(), env)

    code = process.process.wait(timeout=TIMEOUT)

    assert code != 0
    assert "TPFGo refuses to start the Celery worker" in process.output()
    assert DIAGNOSTIC in process.output()
    assert " ready." not in process.output()


def test_gunicorn_refuses_a_broken_composition_and_never_serves(start, env):
    port = free_port()
    process = start(gunicorn(port), env)

    served: list[int] = []
    deadline = time.monotonic() + TIMEOUT
    while process.process.poll() is None and time.monotonic() < deadline:
        status = get(port, "/healthz")
        if status is not None:
            served.append(status)
        time.sleep(0.1)

    assert process.process.poll() not in (None, 0)
    assert served == []
    assert "TPFGo refuses to start the web process (WSGI)" in process.output()
    assert DIAGNOSTIC in process.output()


def test_gunicorn_and_the_worker_start_on_a_sound_composition(start, env):
    sound = {**env, "TPFGO_TEST_COMPOSITION": "tests.lane.composition.COMPOSITION"}
    # A worker refuses a database behind its code (pipelines.store.schema): this one is migrated first.
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=sound,
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=TIMEOUT * 4,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr.decode()[-2000:]
    port = free_port()
    web = start(gunicorn(port), sound)
    celery = start(worker(), sound)

    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and (get(port, "/healthz") != 200 or " ready." not in celery.output()):
        assert web.process.poll() is None, web.output()
        assert celery.process.poll() is None, celery.output()
        time.sleep(0.2)

    assert get(port, "/healthz") == 200
    assert " ready." in celery.output()
    assert "refuses to start" not in web.output() + celery.output()
