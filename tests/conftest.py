"""Shared fixtures: the engine on the test lane, and helpers that count rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pipelines import tracing
from pipelines.runner import Engine
from tests.lane import composition as lane


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """The pool threads of the in-process gRPC servers keep their own PostgreSQL sessions open after their test;
    the test database can be dropped at the end of the run only without them."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def lane_engine() -> Iterator[Engine]:
    lane.FAILURES.clear()
    yield Engine(lane.COMPOSITION)
    lane.FAILURES.clear()


@pytest.fixture
def lane_composition(settings):  # type: ignore[no-untyped-def]
    settings.TPFGO_COMPOSITION = "tests.lane.composition.COMPOSITION"
    return lane.COMPOSITION


def row_counts(*labels: str) -> dict[str, int]:
    """Rows per model label (``"lane.TokenIndexed"``), for exact before/after comparisons."""
    return {label: apps.get_model(label).objects.count() for label in labels}


def all_insert_only_counts() -> dict[str, int]:
    from pipelines.models import InsertOnlyModel

    return {m._meta.label: m.objects.count() for m in apps.get_models() if issubclass(m, InsertOnlyModel)}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """OpenTelemetry on for one test, exported in memory (Django instrumented, the engine's step spans)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing.DerivedIds())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    DjangoInstrumentor().instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        DjangoInstrumentor().uninstrument()
        tracing.stop()
        provider.shutdown()
