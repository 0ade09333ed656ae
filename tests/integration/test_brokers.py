"""Retries on both production brokers with the database as the schedule (``TPFGO_DELAYED_DELIVERY=database``, the
RabbitMQ default): a parked item is retried by a real Celery worker on RabbitMQ (a vhost of its own, quorum default
queue, publisher confirms) and on Redis. Nothing publishes an attempt before it is due; beat's
``pipelines.release_due`` publishes what fell due. The sweeper's lost-message pass is pushed out of the way (a
60 s grace), so only the release can deliver the attempts in time."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipelines.models import ParkingOutcome, RetryClaim
from tests.checkout.conftest import checkpoint_types, place
from tests.integration.conftest import REDIS_URL, Worker, process_env, wait_for
from tests.integration.test_celery_retries import HAPPY, completed_and_resolved

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, timeout=60, check=True)
    return done.stdout.decode()


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A vhost of this test's own on the machine's RabbitMQ (deleted after), its URL."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: no RabbitMQ to test against")
    vhost = f"tpfgo-test-{uuid.uuid4().hex[:8]}"
    try:
        rabbitmqctl("add_vhost", vhost)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create a RabbitMQ vhost here: {exc.stderr.decode()[-300:]}")
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def received_etas(output: str) -> list[object]:
    """The eta of every ``pipelines.retry_parked`` message the worker received, from its JSON log lines."""
    etas = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = str(record.get("event", ""))
        if event.startswith("Task pipelines.retry_parked[") and event.endswith("received"):
            etas.append(record["data"]["eta"])
    return etas


@pytest.fixture
def redis_db() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("rabbitmq_vhost" if request.param == "rabbitmq" else "redis_db"))


def test_a_parked_item_is_retried_through_a_real_worker_from_the_database_schedule(
    demo_data, broker_url, settings, tmp_path: Path
):
    settings.TPFGO_RETRY_ENQUEUE = ""  # this process publishes nothing: the worker's release does
    env = process_env(CELERY_BROKER_URL=broker_url, TPFGO_DELAYED_DELIVERY="database", TPFGO_SWEEP_GRACE_SECONDS="60")
    worker = Worker(tmp_path / "worker.log", env)
    try:
        view = place(paymentToken="tok_flaky_2").view
        order_id = view["orderId"]
        assert view["stalled"]["step"] == "payment_authorized"

        wait_for(lambda: completed_and_resolved(order_id), 30, what="the order to complete", worker=worker)

        assert checkpoint_types(order_id) == HAPPY
        assert sorted(RetryClaim.objects.values_list("attempt", flat=True)) == [2, 3]
        outcome = ParkingOutcome.objects.get()
        assert (outcome.outcome, outcome.attempts) == ("resolved", 3)
        # The attempts reached the worker as plain messages published when due (no eta held in the worker); each
        # may come about twice (the release looks back two passes), and one claim per attempt wins.
        etas = received_etas(worker.output())
        assert len(etas) >= 2 and set(etas) == {None}
        if broker_url.startswith("amqp"):
            vhost = broker_url.rsplit("/", 1)[1]
            queues = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
            assert ("celery", "quorum") in [tuple(line.split()) for line in queues.splitlines() if line.strip()]
    finally:
        worker.stop()
