"""Garbage-collector tuning: applied once when the apps are ready, and off with TPFGO_GC_TUNING=0."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from pipelines.engine import gctuning

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import gc, django; django.setup(); print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"


def test_applied_when_the_apps_are_ready() -> None:
    assert gc.get_threshold()[0] == gctuning.YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    assert gctuning.apply() is False  # once per process


def _probe(**env: str) -> str:
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings", **env}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_a_fresh_process_is_tuned_and_the_setting_turns_it_off() -> None:
    assert _probe() == f"{gctuning.YOUNG_THRESHOLD} True"
    assert _probe(TPFGO_GC_TUNING="0") == "700 False"
