"""An exception that leaves a request or a Celery task is exported on its span by its class only: the
instrumentations record its message and stack trace, which may quote a payment token, and the exporting processor
leaves them out (``pipelines.engine.tracing.ClassOnlyExceptions``, wired by ``tracing.configure``)."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import StatusCode

from opsconsole import views
from pipelines import tasks
from pipelines.engine import tracing
from tests.tracing import server_spans

TOKEN = "tok_live_Zq8VxSpanned4242"


def broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"lookup failed for token={TOKEN}")


def exported_text(spans) -> str:
    return "".join(span.to_json() for span in spans.get_finished_spans())


@pytest.mark.django_db
def test_a_requests_span_names_the_exception_that_left_the_view_by_its_class_only(spans, admin_client, monkeypatch):
    monkeypatch.setattr(views.selectors, "trace_of", broken)
    admin_client.raise_request_exception = False

    response = admin_client.get("/ops/lineage/of/", {"id": str(uuid.uuid4())})

    assert response.status_code == 500
    (request,) = server_spans(spans)
    assert [(e.name, sorted(e.attributes.items())) for e in request.events] == [
        ("exception", [("exception.escaped", "False"), ("exception.type", "RuntimeError")])
    ]
    assert (request.status.status_code, request.status.description) == (StatusCode.ERROR, "RuntimeError")
    assert TOKEN not in exported_text(spans)


def test_a_failed_tasks_span_names_the_exception_by_its_class_only(spans, monkeypatch):
    monkeypatch.setattr(tasks.deadlines, "expire", broken)
    CeleryInstrumentor().instrument(tracer_provider=tracing._provider)
    try:
        result = tasks.expire_waits.apply()  # this process runs it, its signals traced as a worker's are
    finally:
        CeleryInstrumentor().uninstrument()

    assert result.failed()
    (task,) = [span for span in spans.get_finished_spans() if span.name == "run/pipelines.expire_waits"]
    assert [(e.name, sorted(e.attributes.items())) for e in task.events] == [
        ("exception", [("exception.escaped", "False"), ("exception.type", "RuntimeError")])
    ]
    assert (task.status.status_code, task.status.description) == (StatusCode.ERROR, "RuntimeError")
    assert TOKEN not in exported_text(spans)


def test_configure_exports_through_the_class_only_processor(monkeypatch):
    added = []
    monkeypatch.setattr(TracerProvider, "add_span_processor", lambda self, processor: added.append(processor))
    monkeypatch.setattr(tracing, "instrument", lambda provider: None)  # the instrumentations are the tests' above
    try:
        assert tracing.configure({"OTEL_TRACES_EXPORTER": "console"}) is True
    finally:
        tracing.stop()
    (processor,) = added
    assert isinstance(processor, tracing.ClassOnlyExceptions) and isinstance(processor.exporting, BatchSpanProcessor)
    processor.shutdown()
