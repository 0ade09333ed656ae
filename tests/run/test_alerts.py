"""The alerting rules operators load (docs/alerts.yml) are valid Prometheus rules, and each fires on the series it
is for, after its ``for``, and not below its threshold (``promtool test rules tests/run/alerts_test.yml``). A real
Prometheus evaluates them against a live ``make run`` in tests/run/test_prometheus.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.run.prometheus_server import PROMTOOL, require

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "alerts.yml"


@pytest.fixture(autouse=True)
def _installed() -> None:
    require()


def promtool(*args: str) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_alerting_rules_are_valid_prometheus_rules():
    assert "SUCCESS: 17 rules found" in promtool("check", "rules", str(RULES))


def test_each_alert_fires_on_its_series_after_its_for_and_not_below_its_threshold():
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
