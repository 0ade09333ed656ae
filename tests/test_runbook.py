"""The runbook (docs/operations.md, "Runbook") answers what pages an operator: each alert of docs/alerts.yml is
named in a row of it, the row its ``runbook`` annotation sends the operator to."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALERTS = (ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8")
OPERATIONS = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def runbook_rows() -> list[str]:
    section = OPERATIONS.split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def test_every_alert_is_named_in_a_row_of_the_runbook_its_annotation_points_to():
    alerts = re.findall(r"- alert: (\w+)", ALERTS)
    assert len(alerts) == 17
    assert len(re.findall(r'^ +runbook: "docs/operations\.md#runbook: ', ALERTS, re.M)) == 17
    signatures = [row.split(" | ", 1)[0] for row in runbook_rows()]
    assert [a for a in alerts if not any(f"alert `{a}`" in s for s in signatures)] == []
