"""A real Prometheus server for the tests: started on a free port with a configuration of the test's, queried over
its HTTP API. Debian's ``prometheus`` package provides it (``.ci/run`` installs it)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.run.conftest import answers, free_port, wait_until

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
WINDOW = "[15m]"


def require() -> None:
    """Without Prometheus a test skips, except in CI (.ci/run installs it)."""
    if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
        message = "Debian's prometheus package is not installed (apt-get install prometheus; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class Prometheus:
    def __init__(self, base: str, job: str) -> None:
        self.base = base
        self.job = job  # the job whose scrapes ``scrapes`` counts

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def rules(self) -> list[dict[str, Any]]:
        """Every alerting rule Prometheus loaded, once each has been evaluated."""
        with urllib.request.urlopen(f"{self.base}/api/v1/rules?type=alert", timeout=10) as response:
            body = json.load(response)
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    def scrapes(self) -> int:
        found = self.query(f'count_over_time(up{{job="{self.job}"}}{WINDOW})')
        return int(float(found[0]["value"][1])) if found else 0

    def next_scrape(self) -> None:
        """Wait for a scrape that started after this call: the second one stored from now on."""
        seen = self.scrapes()
        wait_until("Prometheus took no new scrape", lambda: self.scrapes() > seen + 1, 60)

    def values(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {_labels(r["metric"]): float(r["value"][1]) for r in self.query(expr)}


def _labels(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "instance", "job")))


@contextmanager
def serving(folder: Path, jobs: str, job: str, rule_files: tuple[Path, ...] = ()) -> Iterator[Prometheus]:
    """Prometheus scraping every second with ``jobs`` (its ``scrape_configs`` entries, YAML), until the block ends;
    ready once it took a first scrape of ``job``."""
    port = free_port()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: {[str(f) for f in rule_files]}\n"
        f"scrape_configs:\n{jobs}"
    )
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until("Prometheus was not ready", lambda: answers(base + "/-/ready"), 60, log)
        api = Prometheus(base, job)
        wait_until(f"Prometheus did not scrape {job}", lambda: api.scrapes() > 0, 60, log)
        yield api
    finally:
        server.terminate()
        server.wait(30)
