"""A cancellation ends the waits it makes moot at once (docs/checkout.md, "Deadlines"): a consumer's cancellation of
an order waiting for its restaurant, and ops cancelling an order that waits for its restaurant, its courier or a
payment review. The wait's round ends ``settled`` with the cancellation for its detail, in the cancellation's own
call: the console's waiting orders and ``live`` no longer list it, and its deadline, when it comes, finds nothing to
do. Before, the round stayed open until its deadline settled it."""

from __future__ import annotations

import datetime
import uuid

import pytest

from checkout import composition as checkout_composition
from checkout import ops_actions, services
from checkout.models import Courier
from pipelines.models import OpenWait, OpsAction, WaitEnded, WaitOpened
from pipelines.recovery import deadlines
from pipelines.store import clock
from tests.checkout.conftest import place
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db


def later() -> datetime.datetime:  # past every deadline
    return clock.reckoned() + datetime.timedelta(days=2)


WHO = {"actor": "ops:erin", "reason": "the consumer called"}


def ended(order_id: str) -> list[tuple[str, str, str]]:
    steps = dict(WaitOpened.objects.filter(trace_id=order_id).values_list("id", "step"))
    rows = WaitEnded.objects.filter(wait_id__in=steps).values_list("wait_id", "outcome", "detail")
    return sorted((steps[wait], outcome, detail) for wait, outcome, detail in rows)


def awaiting_acceptance() -> str:
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    return view["orderId"]


def ops_cancel(order_id: str) -> dict:
    shown = ops_actions.preview("ops-cancel", order_id)
    assert shown["allowed"], shown["why"]
    return ops_actions.execute("ops-cancel", order_id, expected_seq=shown["expectedSeq"], **WHO)


def live(pipeline: str, step: str) -> list[uuid.UUID]:
    deadline = checkout_composition.COMPOSITION.pipeline(pipeline).step(step).deadline
    assert deadline is not None
    return [wait.trace_id for wait in deadlines.live(pipeline, step, deadline)]


def test_a_consumers_cancellation_ends_the_restaurants_wait_it_made_moot(demo_data):
    order_id = awaiting_acceptance()
    assert OpenWait.objects.filter(trace_id=order_id).count() == 1

    answer = services.cancel_order(order_id)

    assert answer["cancellation"] == {"outcome": "ACCEPTED", "reason": None}
    assert answer["order"]["state"] == "CANCELLED"
    assert ended(order_id) == [
        ("acceptance_decision", WaitEnded.SETTLED, "the order was cancelled (CONSUMER_CANCELLED)")
    ]
    assert OpenWait.objects.filter(trace_id=order_id).count() == 0
    assert live("restaurant-acceptance", "acceptance_decision") == []
    before = all_insert_only_counts()
    assert deadlines.expire(later()) == []
    assert all_insert_only_counts() == before


def test_ops_cancelling_an_order_under_payment_review_ends_the_reviews_wait(demo_data, gateway):
    view = place(paymentToken="tok_review").view
    assert view["state"] == "REVIEW_REQUIRED"
    order_id = view["orderId"]
    review = WaitOpened.objects.get(trace_id=order_id)
    shown = [(i["type"], i["summary"]) for i in ops_actions.preview("ops-cancel", order_id)["inserts"]]
    assert shown[-2:] == [
        (
            "WaitEnded",
            "settled: order-finalization/terminal_order_state, the order was cancelled; its deadline runs nothing",
        ),
        ("OpsAction", "ops-cancel: who ran it, why, when and what it inserted"),
    ]

    after = ops_cancel(order_id)

    assert after["state"] == "CANCELLED"
    assert ended(order_id) == [("terminal_order_state", WaitEnded.SETTLED, "the order was cancelled (OPS_CANCELLED)")]
    assert OpsAction.objects.get(trace_id=order_id).result["closedWaitIds"] == [str(review.pk)]
    assert OpenWait.objects.filter(trace_id=order_id).count() == 0
    assert live("order-finalization", "terminal_order_state") == []
    before = all_insert_only_counts()
    assert deadlines.expire(later()) == []
    assert all_insert_only_counts() == before
    assert gateway.VOIDS == [uuid.UUID(order_id)] and gateway.CAPTURES == []


def test_ops_cancelling_an_order_waiting_for_its_courier_ends_the_pickups_wait(demo_data):
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)  # a courier who reports by hand
    view = place().view
    assert view["state"] == "DISPATCHED"
    order_id = view["orderId"]

    ops_cancel(order_id)

    assert ended(order_id) == [("order_picked_up", WaitEnded.SETTLED, "the order was cancelled (OPS_CANCELLED)")]
    assert OpenWait.objects.filter(trace_id=order_id).count() == 0
    before = all_insert_only_counts()
    assert deadlines.expire(later()) == []
    assert all_insert_only_counts() == before


def test_ops_cancelling_an_order_waiting_for_its_restaurant_decides_the_ticket_and_so_ends_its_wait(demo_data):
    order_id = awaiting_acceptance()
    assert "WaitEnded" not in [i["type"] for i in ops_actions.preview("ops-cancel", order_id)["inserts"]]

    ops_cancel(order_id)

    assert ended(order_id) == [("acceptance_decision", WaitEnded.RESOLVED, "")]  # as before: the claim resolves it
    assert OpsAction.objects.get(trace_id=order_id).result["closedWaitIds"] == []
    assert OpenWait.objects.filter(trace_id=order_id).count() == 0


def test_a_refused_cancellation_leaves_the_couriers_wait_open(demo_data):
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    order_id = place().view["orderId"]

    answer = services.cancel_order(order_id)

    assert answer["cancellation"]["outcome"] == "REFUSED"
    assert ended(order_id) == []
    assert list(OpenWait.objects.filter(trace_id=order_id).values_list("step", flat=True)) == ["order_picked_up"]
