"""``manage.py run_observers``: the registered observers, from their stored positions, once or until stopped."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from pipelines.models import CheckpointLog, ObserverPosition
from pipelines.store import observers
from tests.integration.conftest import process_env

MODULE = "tests.observing.recorder"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(monkeypatch):
    """An empty observer registry, and the recorder module not imported yet (so ``--import`` registers it)."""
    monkeypatch.setattr(observers, "_observers", {})
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield
    sys.modules.pop(MODULE, None)


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("run_observers", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_once_delivers_what_is_committed_from_the_stored_position(registry, lane_engine):
    for n in range(2):
        lane_engine.start("ingest", {"text": f"w{n} x"}, f"doc-{n}")
    seqs = list(CheckpointLog.objects.order_by("seq").values_list("seq", flat=True))

    assert run("--import", MODULE, "--once") == [f"tests.recorder: delivered {len(seqs)}"]
    recorder = sys.modules[MODULE]
    assert recorder.SEEN == seqs
    assert ObserverPosition.objects.get(name="tests.recorder").seq == seqs[-1]
    assert run("--import", MODULE, "tests.recorder", "--once") == ["tests.recorder: delivered 0"]

    lane_engine.start("ingest", {"text": "w9"}, "doc-9")
    newer = list(CheckpointLog.objects.filter(seq__gt=seqs[-1]).order_by("seq").values_list("seq", flat=True))
    assert run("--import", MODULE, "--once") == [f"tests.recorder: delivered {len(newer)}"]
    assert recorder.SEEN == seqs + newer


@pytest.mark.django_db
def test_an_observer_named_twice_is_delivered_to_and_reported_once(registry, lane_engine):
    assert run("--import", MODULE, "tests.recorder", "tests.recorder", "--once") == ["tests.recorder: delivered 0"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no observer is registered"),
        (("--import", "tests.observing.nowhere"), "--import 'tests.observing.nowhere'"),
        (("--import", MODULE, "nobody"), "no observer named 'nobody' (registered: tests.recorder)"),
        (("--import", ""), "--import '': Empty module name"),
        (("--import", ".recorder"), "--import '.recorder': the 'package' argument is required"),
        (("--import", MODULE, "--poll-interval", "0"), "--poll-interval must be above 0 and at most 3600"),
        (("--import", MODULE, "--poll-interval", "-1"), "--poll-interval must be above 0 and at most 3600"),
        (("--import", MODULE, "--poll-interval", "nan"), "--poll-interval must be above 0 and at most 3600"),
        (("--import", MODULE, "--poll-interval", "inf"), "--poll-interval must be above 0 and at most 3600"),
    ],
)
def test_it_refuses_to_run_nothing_or_an_unknown_observer(registry, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args, "--once")
    assert ObserverPosition.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--import", "x\ny\x1b[2J"), "--import 'x\\ny\\x1b[2J': No module named 'x\\ny\\x1b[2J'"),
        (
            ("--import", ".x\r"),
            "--import '.x\\r': the 'package' argument is required to perform a relative import for '.x\\r'",
        ),
        (("--import", MODULE, "a\nb"), "no observer named 'a\\nb' (registered: tests.recorder)"),
    ],
)
def test_a_refusal_repeats_the_input_escaped_on_one_line(registry, args, message):
    with pytest.raises(CommandError) as refused:
        run(*args, "--once")
    assert str(refused.value) == message
    assert ObserverPosition.objects.count() == 0


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_running_process_delivers_new_entries_and_stops_on_sigterm(lane_engine, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("another process cannot share the in-memory SQLite test database; runs on PostgreSQL (CI)")
    observed = tmp_path / "observed.txt"
    command = [sys.executable, "manage.py", "run_observers", "--import", MODULE, "--poll-interval", "0.05"]
    env = process_env(TPFGO_TEST_OBSERVED_FILE=str(observed))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "running observers: tests.recorder"
        for n in range(3):
            lane_engine.start("ingest", {"text": f"w{n}"}, f"doc-{n}")
        seqs = [str(s) for s in CheckpointLog.objects.order_by("seq").values_list("seq", flat=True)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not observed.exists() or len(observed.read_text().split()) < len(seqs)):
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert output.splitlines()[-1] == "stopped"
    assert observed.read_text().split() == seqs  # each once, in log order
    assert ObserverPosition.objects.get(name="tests.recorder").seq == int(seqs[-1])
