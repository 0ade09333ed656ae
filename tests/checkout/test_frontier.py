"""The sweeper's frontier on the checkout chain: a placed order, a fork of it and a sweep leave exactly the open
positions the log says, and a completed order leaves none."""

from __future__ import annotations

import uuid

import pytest

from checkout import ops_actions, services
from checkout.order_approved.models import OrderApproved
from pipelines.engine.registry import composition
from pipelines.models import CheckpointLog, ForkedFrom, OpenPosition
from pipelines.recovery import frontier, sweeper
from tests.checkout.conftest import place
from tests.pipelines.test_frontier import later, open_by_the_log

pytestmark = pytest.mark.django_db


def kept() -> set[int]:
    return set(OpenPosition.objects.values_list("seq", flat=True))


@pytest.fixture(autouse=True)
def _inline_resumes(settings):
    settings.TPFGO_RESUME_ENQUEUE = ""


def test_the_frontier_is_in_force_for_the_site_composition():
    assert frontier.in_force(composition())


def test_stalled_awaiting_and_forked_orders_keep_exactly_the_open_positions(demo_data, settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.KeyedGateway"
    site = settings.TPFGO_COMPOSITION  # the composition the test database's flow rules were written for
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    stuck = place().view["orderId"]  # the kitchen committed; the process "died" before its tasks
    settings.TPFGO_COMPOSITION = site
    assert frontier.in_force(composition())
    assert services.cancel_order(stuck)["cancellation"]["outcome"] == "REFUSED"  # a side pipeline's rows after it
    done = place().view["orderId"]
    commitment = CheckpointLog.objects.get(trace_id=stuck, step="kitchen_commitment")
    # The refusal ends on a terminal publication, the completed order on its terminal state: only the kitchen's
    # commitment is open.
    assert kept() == {commitment.seq}
    assert kept() == open_by_the_log()
    assert {p.trace_id for p in OpenPosition.objects.all()} == {uuid.UUID(stuck)}

    approved = OrderApproved.objects.get(order_id=done)
    shown = ops_actions.preview("fork", done, checkpoint_id=str(approved.pk))
    ops_actions.execute(
        "fork", done, expected_seq=shown["expectedSeq"], checkpoint_id=str(approved.pk), actor="ops:t", reason="t"
    )
    assert ForkedFrom.objects.count() == 1
    assert kept() == open_by_the_log() == {commitment.seq}  # the fork ran to its branch's terminal state

    report = sweeper.sweep(now=later(300))
    assert report.resumes == [(stuck, commitment.seq)]
    assert services.get_order(stuck)["state"] == "COMPLETED"
    assert kept() == open_by_the_log()
    assert sweeper.sweep(now=later(300)).resumes == []
    assert kept() == open_by_the_log() == set()
