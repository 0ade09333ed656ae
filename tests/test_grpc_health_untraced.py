"""The gRPC server's health polls its readiness every 2 s outside any call: traced, each poll's query was an
OpenTelemetry trace of its own (about 30 a minute per server at the collector, all day, among the orders'). Its
checks run untraced; the same check run by a traced request (``/readyz``) keeps its query span."""

from __future__ import annotations

import pytest
from django.db import connection
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

from pipelines.engine import tracing
from tpfgo_site.grpc_server import ReadinessHealth
from tpfgo_site.health import readiness


@pytest.fixture
def traced_queries(transactional_db, spans):
    """psycopg instrumented, as ``tracing.instrument`` does, on a connection opened after it."""
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's instrumentation traces PostgreSQL's queries only")
    PsycopgInstrumentor().instrument(tracer_provider=tracing._provider, skip_dep_check=True)
    connection.close()
    connection.ensure_connection()
    spans.clear()  # the new connection's own set-up queries
    try:
        yield spans
    finally:
        PsycopgInstrumentor().uninstrument()
        connection.close()


def queries(exporter) -> list[str]:
    return [str(span.attributes.get("db.statement")) for span in exporter.get_finished_spans() if span.attributes]


def test_the_health_poll_checks_the_database_untraced(traced_queries):
    readiness()
    assert queries(traced_queries) == ["SELECT 1"]  # a check is traced where nothing suppresses it
    traced_queries.clear()

    health = ReadinessHealth(["tpfgo.checkout.v1.OrderService"])
    checks = health.refresh()

    assert checks["database"] == "ok" and health.serving
    assert queries(traced_queries) == []
