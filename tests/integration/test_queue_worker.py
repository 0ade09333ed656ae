"""Queue-async publication with real processes: orders placed with every publication queued are finished by a
Celery worker started without ``-Q`` (it consumes every pipeline's queue), on Redis and on RabbitMQ (quorum queues,
in a vhost of its own); a message delivered twice inserts nothing, and a message lost before it reached the broker
is sent again by the worker's sweeper.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings

from checkout import services
from checkout.ready_order.models import ReadyOrder
from pipelines.engine import queues
from pipelines.models import QueuedHandoff
from tests.checkout.conftest import checkpoint_types, order_body
from tests.conftest import all_insert_only_counts
from tests.integration.conftest import process_env, wait_for
from tests.integration.test_celery_retries import HAPPY

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

QUEUED = {"TPFGO_PUBLICATION_MODES": "*=queue", "TPFGO_QUEUE_RESEND_SECONDS": "1"}
# A web node's part: place the orders (their first pipeline runs here; everything after it is queued).
PLACE = (
    "import django, json, sys; django.setup(); from checkout import services\n"
    "for key in sys.argv[2:]: services.place_order(json.loads(sys.argv[1]), key)"
)
LOST = "tests.integration.test_queue_worker.lose"


def lose(*message: str) -> None:
    """``TPFGO_HANDOFF_SEND`` of a node whose messages never reach the broker."""


def place(keys: list[str], **env: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PLACE, json.dumps(order_body()), *keys],
        env=process_env(**QUEUED, **env),
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]


def consumed(log: str, checkpoint_id: uuid.UUID) -> int:
    return sum(1 for line in log.splitlines() if "handoff.consumed" in line and str(checkpoint_id) in line)


def duplicates(log: str, checkpoint_id: uuid.UUID) -> int:
    return sum(1 for line in log.splitlines() if "handoff.duplicate" in line and str(checkpoint_id) in line)


def completed(keys: list[str], worker) -> list[str]:
    orders = [str(services.order_id_for(key)) for key in keys]
    for order_id in orders:
        wait_for(
            lambda o=order_id: services.get_order(o)["state"] == "COMPLETED",
            timeout=60,
            what=f"order {order_id} to complete on the worker",
            worker=worker,
        )
    # The worker closes a hand-off after the run it carried, so the last one closes just after its order completes.
    wait_for(
        lambda: not QueuedHandoff.objects.exists(),
        timeout=30,
        what="every hand-off to be closed after its run",
        worker=worker,
    )
    return orders


def test_a_worker_without_q_finishes_queued_orders_once_redeliveries_replay_and_lost_messages_are_resent(
    demo_data, start_worker
):
    worker = start_worker(**QUEUED)
    keys = [f"queued-{n}" for n in range(4)]
    place(keys[:3])
    place(keys[3:], TPFGO_HANDOFF_SEND=LOST)  # its hand-off never reaches the broker: the sweeper sends it

    orders = completed(keys, worker)
    for order_id in orders:
        assert checkpoint_types(order_id) == HAPPY, order_id  # exactly one row per checkpoint type
    assert QueuedHandoff.objects.count() == 0
    assert "handoff.consumed" in worker.output()

    # The hand-off opened again (a replay upstream) and sent twice, through the broker: the first copy is a replay,
    # the second finds it closed and runs nothing.
    counts = all_insert_only_counts()
    ready = ReadyOrder.objects.get(trace_id=orders[0])
    before = consumed(worker.output(), ready.pk)
    queues.hand_off("tpfgo.checkout.order-ready.v1", ready, ["consumer-validation"])
    queues.send(queues.rows_for("tpfgo.checkout.order-ready.v1", ready, ["consumer-validation"]))
    wait_for(
        lambda: duplicates(worker.output(), ready.pk) == 1 and not QueuedHandoff.objects.exists(),
        timeout=30,
        what="both copies to be taken",
        worker=worker,
    )
    assert consumed(worker.output(), ready.pk) == before + 1
    assert all_insert_only_counts() == counts


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A vhost of the shared RabbitMQ for this test only (its queues go with it)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not installed: the RabbitMQ variant needs it to make a vhost of its own")
    vhost = f"tpfgo-queue-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([ctl, "add_vhost", vhost], capture_output=True, timeout=60)
    if made.returncode != 0:
        pytest.skip(f"rabbitmqctl cannot add a vhost here: {made.stderr.decode()[-300:]}")
    try:
        subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, timeout=60)
        yield vhost
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


def test_on_rabbitmq_every_pipeline_queue_is_a_quorum_queue_and_queued_orders_complete(
    demo_data, start_worker, rabbitmq_vhost
):
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    worker = start_worker(**QUEUED, CELERY_BROKER_URL=url)
    keys = [f"rabbit-{n}" for n in range(3)]
    place(keys, CELERY_BROKER_URL=url)

    for order_id in completed(keys, worker):
        assert checkpoint_types(order_id) == HAPPY, order_id
    assert QueuedHandoff.objects.count() == 0
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", rabbitmq_vhost, "name", "type", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    kinds = dict(line.split() for line in listed.splitlines() if line.strip())
    fed = [queues.queue_name(p) for p in ("consumer-validation", "restaurant-acceptance", "dispatch")]
    assert all(kinds.get(name) == "quorum" for name in fed), kinds
