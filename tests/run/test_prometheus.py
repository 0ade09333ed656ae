"""A real Prometheus server scrapes a real ``make run`` (two gunicorn workers, the gRPC server, Celery) every second.

Orders go in over REST and gRPC between scrapes, and one order's payment gateway fails once, so the order parks
and a Celery worker finishes it. Prometheus's HTTP API then shows counters that never went back across the
scrapes (one ``/metrics`` sums every process), gRPC and Celery series, and step histograms whose counts are
exactly what the test did. ``promtool check metrics`` accepts the exposition.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkout import services
from pipelines.protos import subscriptions_pb2
from pipelines.recovery.sweeper import SweepReport
from tests.checkout.api.transports import Grpc, Http
from tests.checkout.conftest import order_body
from tests.run.conftest import Collector, Running, wait_until
from tests.run.prometheus_server import PROMTOOL, WINDOW, Prometheus, require, serving

PUBLICATION = "tpfgo.checkout.order-ready.v1"  # every order placed above published one item
ALERTS = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"  # the rules operators load
ROUNDS = 6  # rounds of one REST and one gRPC order, each followed by a scrape
SERVER = 2  # OTLP's SPAN_KIND_SERVER

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _installed() -> None:
    """Before make run starts."""
    require()


@pytest.fixture
def prometheus(make_run: Running, tmp_path: Path) -> Iterator[Prometheus]:
    target = make_run.base.removeprefix("http://")
    jobs = (
        f"  - job_name: tpfgo\n    static_configs:\n      - targets: ['{target}']\n"
        f"  - job_name: worker\n    metrics_path: /\n"
        f"    static_configs:\n      - targets: ['{make_run.worker_metrics}']\n"
        f"  - job_name: grpc\n    metrics_path: /\n"
        f"    static_configs:\n      - targets: ['{make_run.grpc_metrics}']\n"
    )
    with serving(tmp_path, jobs, "tpfgo", (ALERTS,)) as api:
        yield api


def test_prometheus_sees_every_process_counted_once_and_counters_never_go_back(make_run, prometheus, collector):
    rest, grpc = Http(make_run.base, make_run.token), Grpc(make_run.grpc, make_run.token)
    flaky = rest.create(order_body(paymentToken="tok_flaky_1"), "metrics-flaky")
    assert (flaky.code, flaky.order["state"]) == ("OK", "APPROVAL_PENDING"), flaky.order  # parked at payment
    for n in range(ROUNDS):
        assert rest.create(order_body(), f"metrics-rest-{n}").order["state"] == "COMPLETED"
        assert grpc.create(order_body(), f"metrics-grpc-{n}").order["state"] == "COMPLETED"
        prometheus.next_scrape()
    order_id = flaky.order["orderId"]
    wait_until("the parked order was not finished by Celery", lambda: _state(rest, order_id) == "COMPLETED", 120)

    # Counters and histogram counts never decreased across the scrapes, whichever worker answered.
    series = prometheus.query(
        f'{{__name__=~"tpfgo_.*_total|tpfgo_.*_count|process_cpu_seconds_total",job="tpfgo"}}{WINDOW}'
    )
    assert series
    for found in series:
        values = [float(v) for _, v in found["values"]]
        assert values == sorted(values), found["metric"]
    # One name at a time: resets() drops the name, and two counters of one labelset (a gate's admitted_total and
    # refused_total) would collide.
    for name in sorted(
        {found["metric"]["__name__"] for found in series if found["metric"]["__name__"].endswith("_total")}
    ):
        assert prometheus.values(f"resets({name}{{job='tpfgo'}}{WINDOW}) > 0") == {}, name
    created = 'tpfgo_requests_total{route="%s",status="OK",transport="%s",job="tpfgo"}'
    for route, transport, count in (
        ("POST /api/v1/orders", "rest", ROUNDS + 1),
        ("/tpfgo.checkout.v1.OrderService/CreateOrder", "grpc", ROUNDS),
    ):
        scraped = prometheus.query(created % (route, transport) + WINDOW)
        assert len(scraped) == 1, scraped
        seen = [float(v) for _, v in scraped[0]["values"]]
        assert len(set(seen)) >= 5 and seen[-1] == count, (transport, seen)  # rose over >= 5 scrapes

    retried = '{task="pipelines.retry_parked",outcome="succeeded",job="tpfgo"}'
    wait_until("no Celery outcome scraped", lambda: prometheus.values(f"tpfgo_celery_tasks_total{retried}"), 60)
    prometheus.next_scrape()  # after the Celery task's last sample
    orders = 2 * ROUNDS + 1

    # The step histograms: every step of the chain ran once per order; the payment step once more (its failure).
    steps = prometheus.values('tpfgo_step_seconds_count{job="tpfgo"}')
    payment = (("pipeline", "consumer-validation"), ("step", "payment_authorized"))
    assert steps.pop(payment) == orders + 1
    assert steps and set(steps.values()) == {orders}, steps
    assert (("pipeline", "checkout"), ("step", "order_request")) in steps
    failed = prometheus.values('tpfgo_step_runs_total{outcome="failed",job="tpfgo"}')
    assert failed == {(("outcome", "failed"), *payment): 1.0}
    # ...and by its code, which TPFGoStepFailing and TPFGoCourierShortage read (docs/alerts.yml).
    failures = prometheus.values('tpfgo_step_failures_total{job="tpfgo"}')
    assert failures == {(("code", "PAYMENT_GATEWAY_UNAVAILABLE"), *payment): 1.0}
    assert prometheus.values(f"tpfgo_celery_tasks_total{retried}") == {
        (("outcome", "succeeded"), ("task", "pipelines.retry_parked")): 1.0
    }
    grpc_latency = prometheus.values('tpfgo_request_seconds_count{transport="grpc",job="tpfgo"}')
    assert grpc_latency == {(("route", "/tpfgo.checkout.v1.OrderService/CreateOrder"), ("transport", "grpc")): ROUNDS}
    assert prometheus.values('python_info{job="tpfgo"}') and prometheus.values(
        'process_resident_memory_bytes{job="tpfgo"}'
    )
    # The worker's own port (a worker-only node's target) serves the same node's samples, backlog figures aside.
    both = '{__name__=~"tpfgo_step_seconds_count|tpfgo_requests_total",job="%s"}'  # beat's tasks may tick between
    assert prometheus.values(both % "worker") == prometheus.values(both % "tpfgo")
    assert prometheus.values(f"tpfgo_celery_tasks_total{retried}".replace('"tpfgo"', '"worker"')) == {
        (("outcome", "succeeded"), ("task", "pipelines.retry_parked")): 1.0
    }
    assert prometheus.values('tpfgo_dead_letters{job="worker"}') == {}
    # Beat's sweeps ran: every web process reads the last one's age from the database (well under the alert's 300 s).
    wait_until("no sweep's age scraped", lambda: prometheus.values('tpfgo_sweep_age_seconds{job="tpfgo"}'), 90)
    assert 0 <= prometheus.values('tpfgo_sweep_age_seconds{job="tpfgo"}')[()] < 300
    # The operators' alerting rules evaluate against these live series without an error, and none fires.
    rules = prometheus.rules()
    assert {r["name"] for r in rules} == set(re.findall(r"- alert: (\w+)", ALERTS.read_text())) and len(rules) == 17
    assert [(r["name"], r["health"], r.get("lastError", "")) for r in rules if r["health"] != "ok"] == []
    assert [r["name"] for r in rules if r["state"] == "firing"] == []
    # Beat's sweeps run on the worker: every action's series is scraped from the start (its counts: tests/pipelines).
    swept = prometheus.values('tpfgo_sweep_actions_total{job="worker"}')
    assert set(swept) == {(("action", action),) for action in SweepReport().as_dict()}, swept

    _assert_one_trace_per_order(collector, order_id, per_order=len(steps) + 1)  # the payment step popped above
    _assert_grpc_streams_scraped(make_run, prometheus)

    with urllib.request.urlopen(make_run.base + "/metrics", timeout=10) as response:
        exposition = response.read()
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def _assert_one_trace_per_order(collector: Collector, flaky_order: str, per_order: int) -> None:
    """Every process exported its spans (OTLP): each order is one trace, its id the order's, a span per step run."""
    flaky = uuid.UUID(flaky_order).hex
    _exported_steps(collector, flaky, per_order + 1)  # its failed payment attempt, then the rest on the worker
    spans = collector.of_trace(flaky)
    (request,) = [s for s in spans if s.kind == SERVER and s.name.startswith("POST")]  # the GETs polled it too
    assert request.parent_id == ""  # no traceparent came in: the order's trace starts with the request
    assert all(s.parent_id == "" for s in spans if s.kind == SERVER)  # each GET on the order: in its trace
    (task,) = [s for s in spans if s.name == "run/pipelines.retry_parked"]  # the Celery worker, same trace
    retried = [s for s in spans if s.attributes.get("tpfgo.step") == "payment_authorized"]
    assert sorted(s.attributes["tpfgo.attempt"] for s in retried) == ["1", "2"]
    assert {s.parent_id for s in retried} == {request.span_id, task.span_id}
    for n in range(ROUNDS):
        grpc_order = services.order_id_for(f"metrics-grpc-{n}").hex
        _exported_steps(collector, grpc_order, per_order)
        (call,) = [s for s in collector.of_trace(grpc_order) if s.kind == SERVER]
        assert call.name == "/tpfgo.checkout.v1.OrderService/CreateOrder" and call.parent_id == ""


def _assert_grpc_streams_scraped(make_run: Running, prometheus: Prometheus) -> None:
    """The gRPC server's own port: a follow open on it is scraped as admitted there, and gone once it ends; the
    port serves only that process's streams (the node's /metrics has every shared series already). Before any
    stream, each serving process (the gRPC server, the web workers) has its admission gauges scraped already."""
    for job in ("grpc", "tpfgo"):
        wait_until(
            f"the {job} job's admission gauges were not scraped before any stream",
            lambda job=job: (
                _gates(prometheus, f'tpfgo_stream_admission_capacity{{job="{job}"}}')
                == {"ingest", "watch", "subscription"}
            ),
            60,
        )
    assert set(prometheus.values('tpfgo_stream_admission_active{job="grpc"}').values()) == {0.0}
    client = Grpc(make_run.grpc, make_run.token)
    request = subscriptions_pb2.SubscribeRequest(publication=PUBLICATION, start="0")
    follow = client.subscriptions.Subscribe(request, metadata=[("authorization", f"Token {make_run.token}")])
    active = 'tpfgo_stream_admission_active{gate="subscription",job="grpc"}'
    try:
        assert next(follow).publication == PUBLICATION  # admitted: the order-ready items of the orders above
        wait_until("the open follow was not scraped", lambda: set(prometheus.values(active).values()) == {1.0}, 60)
    finally:
        follow.cancel()
    (pid,) = [dict(labels)["pid"] for labels in prometheus.values(active)]
    wait_until("the ended follow was still scraped", lambda: set(prometheus.values(active).values()) == {0.0}, 60)
    admitted = prometheus.values('tpfgo_stream_admission_admitted_total{gate="subscription",job="grpc"}')
    assert admitted == {(("gate", "subscription"), ("pid", pid)): 1.0}
    served = {found["metric"]["__name__"] for found in prometheus.query('{job="grpc"}')}
    names = {name for name in served if name != "up" and not name.startswith("scrape_")}  # Prometheus's own
    assert names == {
        "tpfgo_stream_admission_active", "tpfgo_stream_admission_capacity",
        "tpfgo_stream_admission_admitted_total", "tpfgo_stream_admission_refused_total",
        "tpfgo_subscription_buffered", "tpfgo_grpc_serving",
    }, names  # fmt: skip
    on_web = prometheus.values('tpfgo_stream_admission_admitted_total{gate="subscription",job="tpfgo"}')
    assert pid not in {dict(labels)["pid"] for labels in on_web}


def _gates(prometheus: Prometheus, expr: str) -> set[str]:
    return {dict(labels)["gate"] for labels in prometheus.values(expr)}


def _exported_steps(collector: Collector, trace_id: str, count: int) -> None:
    """Wait until ``count`` step spans of the trace arrived (exports are batched), then expect exactly that many."""

    def steps() -> int:
        return sum(1 for s in collector.of_trace(trace_id) if "tpfgo.step" in s.attributes)

    wait_until(f"{count} step spans of trace {trace_id} were not exported", lambda: steps() >= count, 60)
    assert steps() == count


def _state(rest: Http, order_id: str) -> str:
    return str(rest.get(order_id).order["state"])
