"""A summary of each pytest-xdist worker at the end of a run: its tests, its groups and when it ended.

CI's PostgreSQL run gives each ``xdist_group`` (tests/conftest.py) to one of two workers, so the run lasts as long
as its longest group; these lines show in every CI log which group that was, and by how much. Without ``-n`` there
are no workers and nothing is printed. ``tests/conftest.py`` imports the hooks; ``-p tests.xdist_times`` loads them
alone.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class _Worker:
    tests: int = 0
    groups: set[str] = field(default_factory=set)
    ended: float | None = None  # seconds after the session started


_GROUP = re.compile(r"@([\w.-]+)$")
_started = time.monotonic()
_workers: dict[str, _Worker] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.monotonic()
    _workers.clear()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    node = getattr(report, "node", None)  # set by pytest-xdist on the controller's copy of a worker's report
    if node is None or report.when != "teardown":
        return
    worker = _workers.setdefault(node.gateway.id, _Worker())
    worker.tests += 1
    grouped = _GROUP.search(report.nodeid)  # ``--dist loadgroup`` appends "@<group>" to a grouped test's id
    if grouped:
        worker.groups.add(grouped.group(1))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown when the plugin is not loaded
def pytest_testnodedown(node: Any, error: Any) -> None:
    _workers.setdefault(node.gateway.id, _Worker()).ended = time.monotonic() - _started


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _workers:
        return
    terminalreporter.write_sep("=", "xdist workers")
    for name in sorted(_workers):
        worker = _workers[name]
        groups = ", ".join(sorted(worker.groups)) or "no group"
        ended = f"ended {worker.ended:.0f} s after the session started" if worker.ended is not None else "not ended"
        tests = f"{worker.tests} test" + ("" if worker.tests == 1 else "s")
        terminalreporter.write_line(f"{name}: {tests} ({groups}), {ended}")
