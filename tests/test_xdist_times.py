"""The xdist workers' summary (tests/xdist_times.py) that CI's log shows: one line per worker with its tests, its
group and when it ended, from a real ``pytest -n 2 --dist loadgroup`` run of a small suite in its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
import time
import pytest

@pytest.mark.xdist_group("slow")
def test_slow():
    time.sleep(1.5)

@pytest.mark.xdist_group("quick")
def test_quick_one():
    pass

@pytest.mark.xdist_group("quick")
def test_quick_two():
    pass

@pytest.mark.xdist_group("quick")
@pytest.mark.parametrize("value", ["a@b", "c"])
def test_quick_param(value):
    pass
"""


def run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "test_small.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "pytest", "-p", "tests.xdist_times", "-p", "no:cacheprovider", "-p", "no:django"]
    done = subprocess.run([*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_each_worker_gets_a_line_with_its_tests_its_group_and_when_it_ended(tmp_path):
    out = run(tmp_path, "-n", "2", "--dist", "loadgroup")
    lines = re.findall(r"^(gw\d): (\d+) tests? \(([^)]*)\), ended (\d+) s after the session started$", out, re.M)
    assert sorted((name, int(tests), groups) for name, tests, groups, _ in lines) in (
        [("gw0", 1, "slow"), ("gw1", 4, "quick")],
        [("gw0", 4, "quick"), ("gw1", 1, "slow")],
    )
    ended = {groups: int(seconds) for _, _, groups, seconds in lines}
    assert ended["slow"] >= 1  # the worker of the sleeping test ended after its sleep


def test_nothing_is_printed_without_workers(tmp_path):
    out = run(tmp_path)
    assert "5 passed" in out and "xdist workers" not in out
