"""Bulk remediation: one preview of many orders, a run in bounded batches, one result and audit row per order."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from checkout import bulk_remediation, bulk_selection, remediation, state
from checkout.bulk import place_orders
from pipelines.models import BulkRun, BulkRunResult, CheckpointLog, OpsAction
from pipelines.status import InvalidArgument
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "gateway back since 14:05"}
# One failed attempt dead-letters payment authorization; the next attempt (the redrive) finds the gateway back.
ONE_ATTEMPT = {"consumer-validation.payment_authorized": {"max_attempts": 1}}


@pytest.fixture
def outage(settings, demo_data):
    """``count`` orders dead-lettered at payment authorization by a gateway outage (tok_flaky_1 at the simulator)."""
    settings.TPFGO_RETRY_POLICIES = ONE_ATTEMPT

    def make(count: int, prefix: str = "outage") -> list[uuid.UUID]:
        bodies = [(order_body(paymentToken="tok_flaky_1"), f"{prefix}-{n}") for n in range(count)]
        placed = place_orders(bodies)
        ids = [uuid.UUID(p.view["orderId"]) for p in placed]
        assert all(state.order_view(o)["stalled"]["deadLettered"] for o in ids[:3])
        return ids

    return make


def log_count(order_id: uuid.UUID) -> int:
    return CheckpointLog.objects.filter(trace_id=order_id).count()


def test_three_hundred_dead_letters_are_redriven_in_one_action(outage, settings):
    settings.TPFGO_BULK_REMEDIATION_BATCH = 50
    orders = outage(300)
    found = bulk_selection.select(bulk_selection.parse("dead_letter", step="payment_authorized"))
    assert set(found) == set(orders) and len(found) == 300

    shown = bulk_remediation.preview("redrive", found)
    assert (shown["allowed"], shown["refused"]) == (300, 0)
    run = bulk_remediation.submit("redrive", bulk_remediation.plan_of(shown), **WHO)
    assert str(run.id) == shown["runId"]

    batches = 0
    progress = {"finished": False}
    while not progress["finished"]:
        progress = bulk_remediation.advance(run.id)
        batches += 1
        assert progress["processed"] == min(300, 50 * batches)

    assert batches == 6
    assert (progress["done"], progress["skipped"], progress["failed"]) == (300, 0, 0)
    assert Counter(state.order_view(o)["state"] for o in orders) == {"COMPLETED": 300}
    per_order = OpsAction.objects.filter(action="redrive")
    assert per_order.count() == 300 and set(per_order.values_list("trace_id", flat=True)) == set(orders)
    assert all(a.result["bulkRunId"] == str(run.id) for a in per_order)
    batch = OpsAction.objects.get(action="bulk-redrive")
    assert (batch.trace_id, batch.result["total"], batch.result["done"]) == (run.id, 300, 300)
    assert set(batch.result["opsActionIds"]) == {str(a.pk) for a in per_order}
    assert BulkRunResult.objects.filter(run=run, outcome="done").count() == 300
