"""What the tracing tests read from the in-memory spans (the ``spans`` fixture lives in ``tests/conftest.py``)."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY


def step_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.attributes and "tpfgo.step" in s.attributes]


def server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def step_runs() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "tpfgo_step_runs"
        for sample in metric.samples
        if sample.name == "tpfgo_step_runs_total"
    )
