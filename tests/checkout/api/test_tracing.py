"""OpenTelemetry traces, exported in memory: one trace per order, a span per step run, traceparent continued.

The worker's side is the worker's own code (``retries.run_attempt``, what ``pipelines.retry_parked`` runs) called
in this process without any propagated context: the order's trace id is derived, so the retry joins the trace.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from checkout import demo, messages, services
from checkout.protos import orders_pb2
from pipelines.engine import tracing
from pipelines.models import ParkedItem
from pipelines.recovery import retries
from tests.checkout.api.transports import Grpc
from tests.checkout.conftest import order_body
from tests.tracing import server_spans, step_runs, step_spans

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{INCOMING_TRACE}-{INCOMING_SPAN}-01"


def test_one_trace_per_order_across_the_request_and_the_worker_retry(spans, api, demo_data):
    runs = step_runs()
    created = api.post(
        "/api/v1/orders", order_body(paymentToken="tok_flaky_1"), format="json", HTTP_IDEMPOTENCY_KEY="trace-1"
    )
    assert created.status_code == 201, created.content
    order_id = uuid.UUID(created.json()["orderId"])
    assert order_id == services.order_id_for("trace-1")
    parked = ParkedItem.objects.get()
    assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"  # what the Celery task runs

    steps = step_spans(spans)
    assert len(steps) == step_runs() - runs  # a span per step run, no more, no fewer
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {order_id.int}  # one trace, its id derived
    (request,) = server_spans(spans)
    assert request.parent is None  # no traceparent came in: the request starts the order's trace
    by_step = Counter((s.attributes["tpfgo.pipeline"], s.attributes["tpfgo.step"]) for s in steps)
    assert by_step.pop(("consumer-validation", "payment_authorized")) == 2  # the failure, then the retry
    assert set(by_step.values()) == {1}
    assert {s.attributes["tpfgo.trace_id"] for s in steps} == {str(order_id)}

    failed, retried = [s for s in steps if s.attributes["tpfgo.step"] == "payment_authorized"]
    assert (failed.attributes["tpfgo.outcome"], retried.attributes["tpfgo.outcome"]) == ("failed", "inserted")
    checkpoint = uuid.UUID(str(failed.attributes["tpfgo.checkpoint_id"]))
    assert retried.attributes["tpfgo.checkpoint_id"] == str(checkpoint)
    assert (failed.context.span_id, retried.context.span_id) == (
        tracing.step_span_id(checkpoint, 1),
        tracing.step_span_id(checkpoint, 2),
    )
    assert failed.parent.span_id == request.context.span_id  # under the web request
    assert retried.parent.span_id == tracing.step_span_id(order_id, 0)  # the worker: under the order's root


def test_a_replayed_step_lands_in_the_same_trace_with_the_same_span_id(spans, api, demo_data):
    body = order_body()
    first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="trace-replay")
    order_id = uuid.UUID(first.json()["orderId"])
    before = {(s.attributes["tpfgo.step"], s.context.span_id) for s in step_spans(spans)}
    spans.clear()
    view = services.current_engine().start("checkout", {}, "trace-replay")  # the source pipeline's input, again
    assert {r.status for r in view.results} == {"replayed", "skipped"}  # nothing new stored
    replayed = step_spans(spans)
    assert len(replayed) == len(view.results)
    assert {s.context.trace_id for s in replayed} == {order_id.int}
    assert {(s.attributes["tpfgo.step"], s.context.span_id) for s in replayed} <= before


def test_a_traceparent_sent_over_rest_is_continued(spans, api, demo_data):
    created = api.post(
        "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="trace-2", HTTP_TRACEPARENT=TRACEPARENT
    )
    assert created.status_code == 201, created.content
    (request,) = server_spans(spans)
    assert format(request.context.trace_id, "032x") == INCOMING_TRACE
    assert format(request.parent.span_id, "016x") == INCOMING_SPAN and request.parent.is_remote
    steps = step_spans(spans)
    assert steps and {s.context.trace_id for s in steps} == {request.context.trace_id}
    assert {s.attributes["tpfgo.trace_id"] for s in steps} == {created.json()["orderId"]}  # TPFGo's, recorded


def test_grpc_continues_a_traceparent_and_otherwise_starts_the_orders_trace(spans, grpc_target, token):
    demo.load()
    client = Grpc(grpc_target, token)
    auth = ("authorization", f"Token {token}")
    request = messages.to_message(order_body(), orders_pb2.CreateOrderRequest)
    client.stub.CreateOrder.with_call(
        request, metadata=[auth, ("idempotency-key", "trace-g1"), ("traceparent", TRACEPARENT)], timeout=30
    )
    client.stub.CreateOrder.with_call(request, metadata=[auth, ("idempotency-key", "trace-g2")], timeout=30)

    continued, derived = sorted(server_spans(spans), key=lambda s: s.start_time or 0)
    assert format(continued.context.trace_id, "032x") == INCOMING_TRACE
    assert format(continued.parent.span_id, "016x") == INCOMING_SPAN
    assert derived.context.trace_id == services.order_id_for("trace-g2").int and derived.parent is None
    traces = Counter(s.context.trace_id for s in step_spans(spans))
    assert set(traces) == {continued.context.trace_id, derived.context.trace_id}
    assert traces[continued.context.trace_id] == traces[derived.context.trace_id]  # the same chain, twice


def test_log_lines_carry_the_span_ids_and_keep_tpfgos_trace_id(spans):
    tracer = TracerProvider(id_generator=tracing.DerivedIds()).get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        event = tracing.log_ids(None, "info", {"event": "x", "trace_id": "tpfgo-trace"})
    assert event == {
        "event": "x",
        "trace_id": format(span.get_span_context().trace_id, "032x"),
        "span_id": format(span.get_span_context().span_id, "016x"),
        "tpfgo_trace_id": "tpfgo-trace",
    }


def test_tracing_is_off_unless_the_standard_variables_ask():
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console"})


ROOT = Path(__file__).resolve().parents[3]
SERVICE_NAME_AT_START = (
    "import django; django.setup(); from opentelemetry import trace; "
    "print(trace.get_tracer_provider().resource.attributes['service.name'])"
)


@pytest.mark.parametrize(
    ("environ", "service_name"),
    [
        ({}, "tpfgo"),
        ({"OTEL_SERVICE_NAME": "checkout-eu"}, "checkout-eu"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=checkout-us,deployment.environment=prod"}, "checkout-us"),
    ],
)
def test_a_process_traces_under_the_service_name_its_environment_gives(environ, service_name, tmp_path):
    """The SDK's standard variables name the service (docs/operations.md, "Tracing"); ``tpfgo`` only by default."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env = {
        **clean,
        **environ,
        "OTEL_TRACES_EXPORTER": "console",
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3",
        "TPFGO_VAR_DIR": str(tmp_path),
    }
    started = subprocess.run(
        [sys.executable, "-c", SERVICE_NAME_AT_START], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[-1] == service_name


def test_a_retry_the_worker_got_from_another_trace_runs_in_the_orders_trace(spans, api, demo_data):
    """A Celery task's span continues its producer's context (a remote parent): for a retry the sweeper sent again,
    or a step a beat task runs, that is the sweep's or beat's own trace, not the order's. The step must still start
    in the order's trace and link the task's span (docs/operations.md, "Tracing")."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    created = api.post(
        "/api/v1/orders", order_body(paymentToken="tok_flaky_1"), format="json", HTTP_IDEMPOTENCY_KEY="trace-sweep"
    )
    order_id = uuid.UUID(created.json()["orderId"])
    parked = ParkedItem.objects.get()
    sweep_trace = uuid.uuid4().int  # the sweep task's trace, which re-enqueued the lost retry
    producer = SpanContext(sweep_trace, 0x1234, is_remote=True, trace_flags=TraceFlags(1))
    tracer = trace.get_tracer("celery-like", tracer_provider=tracing._provider)
    with tracer.start_as_current_span(
        "run/pipelines.retry_parked",
        context=trace.set_span_in_context(NonRecordingSpan(producer)),
        kind=SpanKind.CONSUMER,
    ) as task:
        assert retries.run_attempt(parked.pk, 2, worker="w1") == "inserted"

    (retried,) = [s for s in step_spans(spans) if s.attributes["tpfgo.attempt"] == 2]
    assert retried.context.trace_id == order_id.int
    assert retried.parent.span_id == tracing.step_span_id(order_id, 0)
    assert [link.context.span_id for link in retried.links] == [task.get_span_context().span_id]
