"""Duplicate handoffs at every pipeline boundary insert nothing; the kitchen merge ignores completion order."""

import random

import pytest
from django.db import connection

from checkout.composition import COMPOSITION
from checkout.kitchen_task.models import KitchenTask
from checkout.models import Courier
from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
from pipelines.engine.registry import checkpoint_models, engine
from pipelines.models import CheckpointLog, LineageLink
from pipelines.store.db_roles import purge_allowed
from tests.checkout.conftest import place
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

BOUNDARIES = [
    "tpfgo.checkout.order-ready.v1",
    "tpfgo.consumer.order-approved.v1",
    "tpfgo.restaurant.order-accepted.v1",
    "tpfgo.kitchen.order-ready.v1",
    "tpfgo.dispatch.delivery-assigned.v1",
    "tpfgo.delivery.order-delivered.v1",
    "tpfgo.payment.capture-result.v1",
]


def republish(order_id: str, publication: str):
    producer = COMPOSITION.publications()[publication][1]
    checkpoint = producer.model.objects.get(order_id=order_id)
    return engine().publish(publication, checkpoint)


@pytest.mark.parametrize("publication", BOUNDARIES)
def test_republishing_at_a_boundary_inserts_nothing_downstream(demo_data, publication):
    order_id = place().view["orderId"]
    before = all_insert_only_counts()
    execution = republish(order_id, publication)
    assert execution.results and {r.status for r in execution.results} <= {"replayed", "skipped"}
    assert all_insert_only_counts() == before


@pytest.mark.parametrize(
    ("kwargs", "publication"),
    [
        ({"consumer": "carol"}, "tpfgo.consumer.consumer-rejected.v1"),
        ({"paymentToken": "tok_declined"}, "tpfgo.consumer.payment-declined.v1"),
    ],
)
def test_republishing_an_outcome_inserts_nothing(demo_data, kwargs, publication):
    order_id = place(**kwargs).view["orderId"]
    before = all_insert_only_counts()
    assert [r.status for r in republish(order_id, publication).results] == ["replayed"]
    assert all_insert_only_counts() == before


def test_a_handoff_lost_before_delivery_is_forwarded_once(demo_data):
    # Dispatch fails (no courier): everything up to 04 exists once; forwarding 04's output twice more
    # after a courier appears inserts 05→08 exactly once.
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    Courier.objects.filter(id="courier-ben").update(available=True)
    republish(order_id, "tpfgo.kitchen.order-ready.v1")
    republish(order_id, "tpfgo.kitchen.order-ready.v1")
    types = list(CheckpointLog.objects.filter(trace_id=order_id).values_list("checkpoint_type", flat=True))
    for name in ("DeliveryAssigned", "OrderPickedUp", "OrderDelivered", "PaymentOutcome", "TerminalOrderState"):
        assert types.count(name) == 1, name


def _drop_merge(order_id: str) -> None:
    merged = OrderReadyForDispatch.objects.get(order_id=order_id)
    pk = merged.pk.hex if connection.vendor == "sqlite" else merged.pk  # SQLite stores UUIDs as hex text
    with purge_allowed("test: run the kitchen merge again in another completion order"), connection.cursor() as cur:
        cur.execute(f"DELETE FROM {LineageLink._meta.db_table} WHERE child_id = %s", [pk])
        cur.execute(f"DELETE FROM {CheckpointLog._meta.db_table} WHERE checkpoint_id = %s", [pk])
        cur.execute(f"DELETE FROM {OrderReadyForDispatch._meta.db_table} WHERE id = %s", [pk])


def test_the_kitchen_merge_has_one_id_and_digest_for_every_completion_order(demo_data):
    Courier.objects.update(available=False)  # stop the chain after 04, so only the merge is re-run
    order_id = place(
        items=[
            {"menuItemId": "margherita", "quantity": 1},
            {"menuItemId": "pepperoni", "quantity": 2},
            {"menuItemId": "tiramisu", "quantity": 1},
        ]
    ).view["orderId"]
    tasks = list(KitchenTask.objects.filter(order_id=order_id).order_by("idempotency_key"))
    assert len(tasks) == 4
    shuffled = tasks[:]
    random.Random(3).shuffle(shuffled)
    seen = set()
    for order in (tasks, list(reversed(tasks)), shuffled):
        _drop_merge(order_id)
        assert not OrderReadyForDispatch.objects.filter(order_id=order_id).exists()
        execution = engine().run("kitchen-preparation", order, step="order_ready_for_dispatch")
        assert execution.first.status == "inserted"
        merged = OrderReadyForDispatch.objects.get(order_id=order_id)
        assert merged.lineage_digest == "|".join(sorted(str(t.pk) for t in tasks))
        assert LineageLink.objects.filter(child_id=merged.pk).count() == 4
        seen.add((merged.pk, merged.lineage_digest))
    assert len(seen) == 1


def test_every_checkpoint_model_is_written_by_some_step():
    names = set(checkpoint_models())
    assert {"OrderRequest", "KitchenTask", "TerminalOrderState", "CancellationRefused", "TicketWithdrawn"} <= names
