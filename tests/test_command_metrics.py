"""A ``manage.py`` command started without ``PROMETHEUS_MULTIPROC_DIR`` (an operator's shell beside ``make run``)
writes its samples to ``make run``'s folder, ``$TPFGO_VAR_DIR/prometheus``, which the node's ``/metrics`` sums."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

ROOT = Path(__file__).resolve().parent.parent
# What a command's step run counts (pipelines.engine.metrics.step_ran), twice.
RUNS = (
    "from pipelines import metrics; [metrics.step_ran('dispatch', 'delivery_assigned', 'failed', 0.01) for _ in 'ab']"
)


def command(var: Path, **extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"TPFGO_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings", **extra}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", RUNS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def failed_runs(folder: Path) -> float:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    value = registry.get_sample_value(
        "tpfgo_step_runs_total", {"outcome": "failed", "pipeline": "dispatch", "step": "delivery_assigned"}
    )
    return value or 0.0


def test_a_commands_step_runs_reach_make_runs_metrics_folder(tmp_path):
    folder = tmp_path / "var" / "prometheus"
    folder.mkdir(parents=True)
    command(tmp_path / "var")
    assert failed_runs(folder) == 2


def test_without_make_runs_folder_or_with_the_variable_empty_a_command_keeps_its_samples(tmp_path):
    command(tmp_path / "var")  # no make run here: no folder, nothing made
    assert not (tmp_path / "var" / "prometheus").exists()
    folder = tmp_path / "var" / "prometheus"
    folder.mkdir(parents=True)
    before = sorted(ROOT.glob("*.db"))
    command(tmp_path / "var", PROMETHEUS_MULTIPROC_DIR="")
    assert list(folder.iterdir()) == [] and sorted(ROOT.glob("*.db")) == before  # nor in the working directory
