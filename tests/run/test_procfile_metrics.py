"""The ``Procfile``'s ``web`` and ``grpc`` lines, each a node with a metrics folder of its own (as on two hosts),
scraped by a real Prometheus as docs/prometheus.yml scrapes them: every request and step run is on one target."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.checkout.api.transports import Grpc, Http
from tests.checkout.conftest import order_body
from tests.run.conftest import ROOT, _stop_group, answers, free_port, wait_until
from tests.run.prometheus_server import PROMTOOL, Prometheus, require, serving
from tests.test_procfile import procfile

pytestmark = pytest.mark.integration

_TOKEN = re.compile(r"API token\s+([0-9a-f]{40})")
ORDERS = 3  # of each transport


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """``bin/node prepare``, then the Procfile's web and grpc lines: (web, gRPC, gRPC metrics) addresses, token."""
    require()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "TPFGO_", "OTEL_"))},
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tpfgo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "PORT": str(free_port()),
        "GRPC_PORT": str(free_port()),
        "GRPC_METRICS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp_path / "var" / "broker").mkdir(parents=True)
    prepared = subprocess.run(
        ["bin/node", "prepare"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert prepared.returncode == 0, prepared.stderr[-4000:]
    token = _TOKEN.search(prepared.stdout)
    assert token, prepared.stdout
    started = []
    try:
        for role in ("web", "grpc"):
            log = (tmp_path / f"{role}.log").open("wb")
            line = ["sh", "-c", procfile()[role]]
            options = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
            started.append(subprocess.Popen(line, cwd=ROOT, env=env, start_new_session=True, **options))
        web, grpc_metrics = f"127.0.0.1:{env['PORT']}", f"127.0.0.1:{env['GRPC_METRICS_PORT']}"
        wait_until("the web node did not answer", lambda: answers(f"http://{web}/healthz"), 120, tmp_path / "web.log")
        wait_until("the gRPC node's metrics port did not answer", lambda: answers(f"http://{grpc_metrics}/"), 120,
                   tmp_path / "grpc.log")  # fmt: skip
        yield web, f"127.0.0.1:{env['GRPC_PORT']}", grpc_metrics, token.group(1)
    finally:
        for process in started:
            _stop_group(process)
    folders = sorted(p.name.split("-")[1] for p in (tmp_path / "var").glob("prometheus-*"))
    assert folders == ["grpc", "web"]  # one of its own per node: no /metrics sums the other's


def test_a_grpc_nodes_requests_and_step_runs_are_scraped_from_its_metrics_port(nodes, tmp_path):
    web, grpc_address, grpc_metrics, token = nodes
    jobs = (
        f"  - job_name: tpfgo-web\n    static_configs:\n      - targets: ['{web}']\n"
        f"  - job_name: tpfgo-grpc\n    metrics_path: /\n    static_configs:\n      - targets: ['{grpc_metrics}']\n"
    )
    with serving(tmp_path, jobs, "tpfgo-grpc") as prometheus:
        rest, grpc = Http(f"http://{web}", token), Grpc(grpc_address, token)
        for n in range(ORDERS):
            assert rest.create(order_body(), f"procfile-rest-{n}").order["state"] == "COMPLETED"
            assert grpc.create(order_body(), f"procfile-grpc-{n}").order["state"] == "COMPLETED"
        prometheus.next_scrape()
        _scraped_once(prometheus)
    with urllib.request.urlopen(f"http://{grpc_metrics}/", timeout=10) as response:
        exposition = response.read()
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def _scraped_once(prometheus: Prometheus) -> None:
    created = 'sum by (job, transport) (tpfgo_requests_total{route=~"POST /api/v1/orders|.*/CreateOrder"})'
    assert _by(prometheus, created, "transport") == {("tpfgo-web", "rest"): ORDERS, ("tpfgo-grpc", "grpc"): ORDERS}
    # Each order ran its chain once, in the process that took it: every step's runs summed across targets.
    inserted = 'sum by (job) (tpfgo_step_runs_total{pipeline="checkout",step="order_request",outcome="inserted"})'
    assert _by(prometheus, inserted) == {("tpfgo-web",): ORDERS, ("tpfgo-grpc",): ORDERS}
    counts = prometheus.values("sum by (pipeline, step) (tpfgo_step_seconds_count)")
    assert counts and set(counts.values()) == {2 * ORDERS}, counts
    # The backlog gauges come from the web nodes only (the rules take them once); the gRPC port has its own streams.
    assert prometheus.values('tpfgo_sweep_age_seconds{job="tpfgo-grpc"}') == {}
    assert prometheus.values('tpfgo_stream_admission_capacity{job="tpfgo-grpc",gate="subscription"}')


def _by(prometheus: Prometheus, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {
        (found["metric"]["job"], *(found["metric"][label] for label in labels)): float(found["value"][1])
        for found in prometheus.query(expr)
    }
