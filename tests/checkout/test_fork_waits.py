"""A fork whose first step awaits an event (forked from the ticket, so the restaurant decides again; or from the
delivery, so the courier picks up again) opens its own wait on the fork's branch: the event moves the fork's view,
the parent gets no second decision, and the fork's deadline is the fork's."""

from __future__ import annotations

import pytest

from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import Courier
from checkout.order_picked_up.models import OrderPickedUp
from checkout.ticket_created.models import TicketCreated
from pipelines.models import MAIN_BRANCH, ForkedFrom, OpenWait, WaitOpened
from pipelines.recovery import deadlines
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "ask the restaurant again"}


def fork_from_ticket(order_id: str) -> ForkedFrom:
    ticket = str(TicketCreated.objects.get(order_id=order_id).pk)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=ticket)
    assert shown["allowed"], shown["why"]
    ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=ticket, **WHO)
    return ForkedFrom.objects.get(trace_id=order_id)


def decisions(order_id: str) -> list[tuple[str, str]]:
    rows = AcceptanceDecision.objects.filter(order_id=order_id).order_by("branch")
    return sorted(rows.values_list("branch", "decided_by"))


def test_a_fork_from_the_ticket_waits_on_its_own_branch_and_the_restaurants_event_decides_the_fork(demo_data):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id = view["orderId"]
    services.reject_ticket(view["kitchenTicketId"], "out of eggs")
    assert decisions(order_id) == [(MAIN_BRANCH, "REJECTED")]

    forked = fork_from_ticket(order_id)

    assert services.get_order(order_id)["state"] == "AWAITING_ACCEPTANCE"
    # The fork's wait is its own, open on the fork's branch; the parent's (closed by its decision) is untouched.
    waited = OpenWait.objects.filter(trace_id=order_id).values_list("wait_id", flat=True)
    assert waited.count() == 1
    assert WaitOpened.objects.filter(trace_id=order_id).count() == 2

    after = services.accept_ticket(view["kitchenTicketId"])

    assert after["state"] == "COMPLETED"
    assert decisions(order_id) == sorted([(MAIN_BRANCH, "REJECTED"), (forked.branch, "ACCEPTED")])
    assert not OpenWait.objects.filter(trace_id=order_id).exists()
    opened = WaitOpened.objects.filter(trace_id=order_id)
    assert sorted(opened.values_list("branch", flat=True)) == sorted([MAIN_BRANCH, forked.branch])


def test_a_forks_acceptance_deadline_times_out_the_fork_and_leaves_the_parents_decision(demo_data, settings):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id = view["orderId"]
    services.reject_ticket(view["kitchenTicketId"], "out of eggs")
    settings.TPFGO_ACCEPTANCE_DEADLINE_MINUTES = 0  # the fork's wait is due as it opens
    forked = fork_from_ticket(order_id)

    fired = deadlines.expire(step="acceptance_decision")

    assert [f.outcome for f in fired] == ["expired"]
    assert decisions(order_id) == sorted([(MAIN_BRANCH, "REJECTED"), (forked.branch, "TIMED_OUT")])
    assert services.get_order(order_id)["state"] == "CANCELLED"
    assert not OpenWait.objects.filter(trace_id=order_id).exists()


def test_a_fork_from_the_delivery_waits_for_the_couriers_pickup_on_its_own_branch(demo_data):
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)  # a courier who reports by hand
    view = place().view
    order_id = view["orderId"]
    services.pickup(view["dispatchId"])
    assigned = str(DeliveryAssigned.objects.get(order_id=order_id).pk)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=assigned)
    assert shown["allowed"], shown["why"]
    ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=assigned, **WHO)
    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert services.get_order(order_id)["state"] == "DISPATCHED"

    services.pickup(view["dispatchId"])

    picked = sorted(OrderPickedUp.objects.filter(order_id=order_id).values_list("branch", flat=True))
    assert picked == sorted([MAIN_BRANCH, forked.branch])
    assert services.get_order(order_id)["state"] == "PICKED_UP"
