"""A fork whose first step awaits an event (forked from the ticket, so the restaurant decides again; or from the
delivery, so the courier picks up again) opens its own wait on the fork's branch: the event moves the fork's view,
the parent gets no second decision, and the fork's deadline is the fork's."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import time_machine

from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import Courier
from checkout.order_picked_up.models import OrderPickedUp
from checkout.ticket_created.models import TicketCreated
from pipelines.engine.registry import composition
from pipelines.models import MAIN_BRANCH, ForkedFrom, OpenWait, ParkedItem, WaitEnded, WaitOpened
from pipelines.recovery import deadlines, pausing
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "ask the restaurant again"}
ACCEPTANCE = ("restaurant-acceptance", "acceptance_decision")
T0 = datetime.datetime(2030, 3, 4, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> Any:
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def minutes(value: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=value)


def expire(when: float) -> list[tuple[str, str]]:
    """Each due wait's branch and what the deadline pass did with it."""
    with at(when):
        fired = deadlines.expire(step=ACCEPTANCE[1])
    branches = dict(WaitOpened.objects.values_list("id", "branch"))
    return [(branches[f.wait_id], f.outcome) for f in fired]


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


def test_a_forks_held_acceptance_lengthens_the_forks_wait_and_the_parents_ended_at_the_fork(demo_data, settings):
    """Forked from the ticket while the parent still waits: the fork ends the parent's wait as superseded and waits
    on the same ticket on its own branch. The restaurant's accept, held by a pause of the step, is the fork's event
    (its branch is the order's view): it keeps the fork's wait open, and no deadline of the parent's is left to
    fire or to lengthen."""
    settings.TPFGO_ACCEPTANCE_DEADLINE_MINUTES = 30
    with at(0):
        view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
        order_id = view["orderId"]
    with at(1):
        forked = fork_from_ticket(order_id)
    with at(2):
        paused = pausing.pause(composition(), *ACCEPTANCE, actor="ops:erin", reason="tablet app down")
    with at(10):
        services.accept_ticket(view["kitchenTicketId"])  # held at the paused step, on the fork's branch
    assert list(ParkedItem.objects.filter(holds__isnull=False).values_list("branch", flat=True)) == [forked.branch]
    with at(12):
        pausing.resume(paused.id, actor="ops:erin", reason="tablet app back")  # the drain has not run yet

    assert expire(30.1) == []
    assert expire(31.1) == [(forked.branch, "extended")]
    due = OpenWait.objects.filter(trace_id=order_id).values_list("wait_id", "due_at")
    branches = dict(WaitOpened.objects.filter(trace_id=order_id).values_list("id", "branch"))
    # The fork's accept is still held: its wait is looked at a period later.
    assert [(branches[w], d) for w, d in due] == [(forked.branch, minutes(61.1))]
    ended = WaitEnded.objects.filter(wait_id__in=branches).values_list("wait_id", "outcome", "detail")
    assert [(branches[w], outcome, detail) for w, outcome, detail in ended] == [
        (MAIN_BRANCH, "settled", "superseded by a fork")
    ]
    assert decisions(order_id) == []
