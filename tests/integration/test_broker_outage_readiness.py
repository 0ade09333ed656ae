"""A broker outage leaves every node ready: ``/readyz`` answers 200 ``degraded`` naming the broker, and the gRPC
health stays SERVING, while the synchronous chain still places orders; only the database decides readiness
(``tpfgo_site/health.py``). A 503 there would make a load balancer take every web node out at once.

The test starts a Redis of its own on a free port, points this process's publishing and readiness at it, and
stops it. The database half (503 with ``database: failed``) is tests/checkout/api/test_database_outage.py's.

A retry scheduled meanwhile costs its request one connection attempt (``pipelines.tasks.PUBLISH_ONCE``), counted
on a listener that takes the broker's port and drops every connection; once Redis is back, the sweeper re-enqueues
the retry and the order completes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import services
from pipelines.models import RetryClaim, RetryScheduled
from tests import settings_worker
from tests.checkout.conftest import order_body, place
from tests.integration.conftest import Worker, process_env, publishing_to, wait_for
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


class DroppingListener:
    """Listens on a port and closes every connection it accepts, counting them: a broker that answers nothing."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.thread.join(timeout=5)


def test_a_retry_scheduled_while_the_broker_is_down_tries_one_connection_and_is_not_lost(
    stopped_redis: RedisBroker, demo_data: None, tmp_path: Path
):
    listener = DroppingListener(stopped_redis.port)
    try:
        order_id = place(paymentToken="tok_flaky_1").view["orderId"]  # the gateway fails once: a retry is parked
        assert listener.accepted == 1  # Celery's default publish policy connected 4 times (3 retries)
    finally:
        listener.close()
    assert services.get_order(order_id)["state"] != "COMPLETED"
    assert RetryScheduled.objects.count() == 1 and RetryClaim.objects.count() == 0  # its row waits in the database

    stopped_redis.start()
    worker = Worker(tmp_path / "worker.log", process_env(CELERY_BROKER_URL=stopped_redis.url))
    try:
        wait_for(
            lambda: services.get_order(order_id)["state"] == "COMPLETED", what="the order to complete", worker=worker
        )
    finally:
        worker.stop()
    assert RetryClaim.objects.count() == 1
