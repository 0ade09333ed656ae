"""A broker outage leaves every node ready: ``/readyz`` answers 200 ``degraded`` naming the broker, and the gRPC
health stays SERVING, while the synchronous chain still places orders; only the database decides readiness
(``tpfgo_site/health.py``). A 503 there would make a load balancer take every web node out at once.

The test starts a Redis of its own on a free port, points this process's publishing and readiness at it, and
stops it. The database half (503 with ``database: failed``) is tests/checkout/api/test_database_outage.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from access.tokens import create_token
from tests import settings_worker
from tests.checkout.conftest import order_body
from tests.integration.conftest import publishing_to
from tests.scaleout.cluster import RedisBroker
from tpfgo_site.grpc_server import SERVING, ReadinessHealth

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stopped_redis(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisBroker]:
    """A Redis of this test's own that this process publishes to and checks, stopped before the test body runs."""
    redis = RedisBroker(tmp_path)
    try:
        redis.start()
        settings.CELERY_BROKER_URL = redis.url  # the broker check reads it (filesystem:// checks a folder)
        settings.TPFGO_RETRY_ENQUEUE = "pipelines.tasks.enqueue_retry"
        settings.TPFGO_RETRY_POLICIES = settings_worker.TPFGO_RETRY_POLICIES
        with publishing_to(redis.url, monkeypatch):
            redis.stop()
            yield redis
    finally:
        redis.stop()


def _broker_failures() -> float:
    return REGISTRY.get_sample_value("tpfgo_readiness_checks_total", {"check": "broker", "result": "failed"}) or 0.0


def test_a_broker_outage_leaves_the_node_ready_and_orders_go_through(stopped_redis: RedisBroker, demo_data: None):
    failures = _broker_failures()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='ops', name='lb-probe').key}")

    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content
    body = ready.json()
    assert body["status"] == "degraded" and body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("failed: ")

    placed = client.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="broker-down-1")
    assert placed.status_code == 201, placed.content
    assert placed.json()["state"] == "COMPLETED"  # the synchronous chain ran to its end

    health = ReadinessHealth(["tpfgo.checkout.v1.OrderService"])
    checks = health.refresh()
    assert checks["broker"].startswith("failed: ") and health.serving
    assert {name: health._server_status[name] for name in health.services} == {
        "": SERVING,
        "tpfgo.checkout.v1.OrderService": SERVING,
    }
    assert _broker_failures() == failures + 2  # counted for the alert TPFGoBrokerUnreachable: /readyz, gRPC health
