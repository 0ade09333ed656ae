"""``OTEL_TRACES_EXPORTER=console`` writes spans among the JSON log lines on stdout: one JSON object per line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django
django.setup()
from opentelemetry import trace
tracer = trace.get_tracer("console-test")
for name in ("first", "second", "third"):
    with tracer.start_as_current_span(name, attributes={"tpfgo.step": name}):
        pass
trace.get_tracer_provider().shutdown()
"""


def test_the_console_exporter_writes_one_json_object_per_line():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "OTEL_TRACES_EXPORTER": "console"}
    env.pop("OTEL_SDK_DISABLED", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not one JSON object per line: {line!r}") from None
    assert [span["name"] for span in parsed if "context" in span] == ["first", "second", "third"]
