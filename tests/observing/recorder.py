"""An observer for the ``run_observers`` tests: it records each delivered entry's seq (in memory, and in the file
named by ``TPFGO_TEST_OBSERVED_FILE`` when set, for a test that runs the command in another process)."""

from __future__ import annotations

import os

from pipelines.models import CheckpointLog
from pipelines.store import observers

NAME = "tests.recorder"
SEEN: list[int] = []


@observers.observe(name=NAME)
def record(entry: CheckpointLog) -> None:
    SEEN.append(entry.seq)
    path = os.environ.get("TPFGO_TEST_OBSERVED_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{entry.seq}\n")
