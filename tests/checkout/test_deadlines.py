"""Every wait has a deadline: each fires its pipeline exactly once when it passes, nothing happens before it,
and the event arriving first wins (the deadline then does nothing). Time moves with time-machine, never sleeps."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import pytest
import time_machine
from django.utils import timezone

from checkout import composition as checkout_composition
from checkout import ops_actions, selectors, services
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.courier_reassigned.models import CourierReassigned
from checkout.delivery_escalated.models import DeliveryEscalated
from checkout.models import Courier, CourierLoad
from checkout.order_delivered.models import OrderDelivered
from checkout.order_picked_up.models import OrderPickedUp
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.checks import check_composition
from pipelines.engine.registry import engine
from pipelines.models import OpenWait, WaitEnded, WaitOpened
from pipelines.recovery import deadlines
from pipelines.store import clock
from tests.checkout.conftest import place
from tests.conftest import all_insert_only_counts, node_clock

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
WHO = {"actor": "ops:erin", "reason": "deadline test"}


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def expire(minutes: float, step: str) -> list[deadlines.Fired]:
    with at(minutes):
        return deadlines.expire(step=step)


@pytest.fixture
def manual_courier(demo_data):
    """Only courier-max (who confirms by hand) can be dispatched; courier-ann comes back for a reassignment."""
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)


def waiting_order(minutes: float = 0) -> dict:
    with at(minutes):
        view = place().view
    assert view["state"] == "DISPATCHED"
    return view


def facts(model, order_id) -> int:
    return model.objects.filter(order_id=uuid.UUID(order_id)).count()


# -- courier pickup: reassign, then escalate --------------------------------------------------------------------
def test_an_overdue_pickup_is_reassigned_once_then_escalated_once(manual_courier):
    view = waiting_order()
    order_id = view["orderId"]
    Courier.objects.filter(id="courier-ann").update(available=True)

    assert expire(19.9, "order_picked_up") == []
    assert facts(CourierReassigned, order_id) == 0

    first = expire(20.1, "order_picked_up")
    assert [(f.round, f.outcome, f.ran, f.inserted) for f in first] == [(1, "expired", "courier-reassignment", 1)]
    reassigned = CourierReassigned.objects.get(order_id=order_id)
    assert (reassigned.from_courier_id, reassigned.courier_id) == ("courier-max", "courier-ann")
    assert expire(20.2, "order_picked_up") == []  # the round is over: the next one is due 20 minutes later
    assert expire(39.9, "order_picked_up") == []

    second = expire(40.1, "order_picked_up")
    assert [(f.round, f.outcome, f.ran, f.inserted) for f in second] == [(2, "expired", "delivery-escalation", 1)]
    escalated = DeliveryEscalated.objects.get(order_id=order_id)
    assert (escalated.stage, escalated.courier_id) == ("pickup", "courier-ann")
    assert expire(600, "order_picked_up") == []  # the last round closed the wait
    assert facts(CourierReassigned, order_id) == facts(DeliveryEscalated, order_id) == 1
    assert not OpenWait.objects.filter(trace_id=order_id).exists()
    assert WaitEnded.objects.filter(outcome="expired").count() == 2

    # The new courier still picks up (an escalation does not cancel the order), and the load follows the courier.
    assert CourierLoad.objects.get(pk="courier-ann").active == 1
    assert CourierLoad.objects.get(pk="courier-max").active == 0
    with at(41):
        done = services.pickup(view["dispatchId"])
    assert done["state"] == "COMPLETED"  # courier-ann confirms nothing by hand: delivered at once
    assert OrderPickedUp.objects.get(order_id=order_id).courier_id == "courier-ann"
    assert CourierLoad.objects.get(pk="courier-ann").active == 0


def test_with_no_other_courier_the_first_round_records_nothing_and_the_second_escalates(manual_courier):
    order_id = waiting_order()["orderId"]
    assert [f.inserted for f in expire(21, "order_picked_up")] == [0]
    assert [f.inserted for f in expire(41, "order_picked_up")] == [1]
    assert (facts(CourierReassigned, order_id), facts(DeliveryEscalated, order_id)) == (0, 1)


def test_a_pickup_before_the_deadline_wins_and_the_deadline_then_does_nothing(manual_courier):
    view = waiting_order()
    Courier.objects.filter(id="courier-ann").update(available=True)
    with at(5):
        assert services.pickup(view["dispatchId"])["state"] == "PICKED_UP"
    before = all_insert_only_counts()
    # The pickup's wait ended "resolved"; the dropoff's wait (opened at 5) is not due before 65.
    assert expire(64.9, "order_picked_up") == expire(64.9, "order_delivered") == []
    assert all_insert_only_counts() == before
    assert facts(CourierReassigned, view["orderId"]) == facts(DeliveryEscalated, view["orderId"]) == 0
    assert WaitEnded.objects.get().outcome == "resolved"


# -- courier dropoff: escalate ------------------------------------------------------------------------------
def test_an_overdue_dropoff_is_escalated_once_and_the_dropoff_is_still_taken(manual_courier):
    view = waiting_order()
    with at(1):
        services.pickup(view["dispatchId"])
    assert expire(60.9, "order_delivered") == []
    fired = expire(61.1, "order_delivered")
    assert [(f.outcome, f.ran, f.inserted) for f in fired] == [("expired", "delivery-escalation", 1)]
    assert expire(61.2, "order_delivered") == expire(500, "order_delivered") == []
    escalated = DeliveryEscalated.objects.get(order_id=view["orderId"])
    assert (escalated.stage, escalated.courier_id) == ("dropoff", "courier-max")
    with at(70):
        assert services.dropoff(view["dispatchId"])["state"] == "COMPLETED"
    assert facts(OrderDelivered, view["orderId"]) == facts(DeliveryEscalated, view["orderId"]) == 1


def test_a_dropoff_before_the_deadline_wins_and_the_deadline_then_does_nothing(manual_courier):
    view = waiting_order()
    with at(1):
        services.pickup(view["dispatchId"])
    with at(30):
        assert services.dropoff(view["dispatchId"])["state"] == "COMPLETED"
    before = all_insert_only_counts()
    assert expire(500, "order_delivered") == []
    assert all_insert_only_counts() == before
    assert facts(DeliveryEscalated, view["orderId"]) == 0


# -- payment review: decline and void ------------------------------------------------------------------------
def reviewed_order() -> str:
    with at(0):
        view = place(consumer="dave").view
    assert view["state"] == "REVIEW_REQUIRED"
    return view["orderId"]


def test_an_overdue_payment_review_is_declined_and_voided_exactly_once(demo_data, gateway):
    order_id = reviewed_order()
    assert expire(24 * 60 - 1, "terminal_order_state") == []
    assert gateway.VOIDS == []

    fired = expire(24 * 60 + 1, "terminal_order_state")
    assert [(f.outcome, f.ran, f.inserted) for f in fired] == [("expired", "payment-review-expiry", 3)]
    assert expire(24 * 60 + 2, "terminal_order_state") == []
    resolved = PaymentReviewResolved.objects.get(order_id=order_id)
    assert (resolved.approved, resolved.resolved_by) == (False, "deadline")
    assert facts(AuthorizationVoided, order_id) == 1
    assert TerminalOrderState.objects.get(order_id=order_id).outcome == "FAILED_COMPENSATED"
    assert gateway.VOIDS == [uuid.UUID(order_id)]
    assert services.get_order(order_id)["state"] == "PAYMENT_FAILED"

    # Ops approving afterwards loses to the stored decline: nothing captured, nothing inserted.
    before = all_insert_only_counts()
    late = engine().run(
        "resolve-payment-review",
        selectors.payment_outcome(uuid.UUID(order_id)),
        event={
            "approved": True,
            "by": "ops:erin",
        },
    )
    assert late.first.status == "lost"
    assert all_insert_only_counts() == before
    assert gateway.CAPTURES == [] and gateway.VOIDS == [uuid.UUID(order_id)]


def test_a_review_resolved_by_ops_first_settles_the_wait_and_the_deadline_does_nothing(demo_data, gateway):
    order_id = reviewed_order()
    with at(10):
        shown = ops_actions.preview("resolve-payment-review", order_id, approved=True)
        ops_actions.execute("resolve-payment-review", order_id, expected_seq=shown["expectedSeq"], approved=True, **WHO)
    before = all_insert_only_counts()
    fired = expire(24 * 60 + 1, "terminal_order_state")
    assert [(f.outcome, f.ran, f.inserted) for f in fired] == [("settled", "", 0)]
    assert expire(24 * 60 + 2, "terminal_order_state") == []
    assert {k: v for k, v in all_insert_only_counts().items() if v != before.get(k)} == {"pipelines.WaitEnded": 1}
    assert gateway.VOIDS == [] and gateway.CAPTURES == [uuid.UUID(order_id)]
    assert PaymentReviewResolved.objects.get(order_id=order_id).approved is True


# -- the engine's side: one firing per round, a bounded due query ---------------------------------------------
def test_a_round_fired_twice_runs_its_pipeline_once(demo_data, gateway):
    order_id = reviewed_order()
    with at(24 * 60 + 1):
        row = OpenWait.objects.get(trace_id=order_id)
        first, second = deadlines.fire(row, timezone.now()), deadlines.fire(row, timezone.now())
    assert (first.outcome, first.inserted) == ("expired", 3)
    assert (second.outcome, second.inserted) == ("missed", 0)
    assert facts(PaymentReviewResolved, order_id) == facts(AuthorizationVoided, order_id) == 1
    assert gateway.VOIDS == [uuid.UUID(order_id)]


def test_a_step_that_waits_again_keeps_its_first_deadline(manual_courier):
    view = waiting_order()
    delivery = selectors.delivery(uuid.UUID(view["orderId"]))
    with at(15):  # the step runs again without its event (a replay of the chain): it waits again, same wait
        assert engine().run("delivery-execution", delivery).first.status == "awaiting"
    wait = WaitOpened.objects.get()
    assert (wait.opened_at, wait.due_at) == (T0, T0 + datetime.timedelta(minutes=20))
    assert [f.round for f in expire(20.1, "order_picked_up")] == [1]


def test_the_due_query_reads_only_due_open_waits_in_deadline_order(manual_courier, django_assert_num_queries):
    views = [waiting_order(minutes) for minutes in (2, 1, 0)]
    with at(5):
        services.pickup(views[1]["dispatchId"])
    with at(30):
        due = deadlines.due(timezone.now(), 10, step="order_picked_up")
    assert [str(w.trace_id) for w in due] == [views[2]["orderId"], views[0]["orderId"]]  # oldest deadline first
    assert [w.round for w in due] == [1, 1]
    with at(30), django_assert_num_queries(1):
        assert len(deadlines.due(timezone.now(), 1)) == 1


def test_the_live_waits_leave_out_what_another_path_settled(demo_data):
    settled_one, waiting_one = reviewed_order(), reviewed_order()
    shown = ops_actions.preview("resolve-payment-review", settled_one, approved=False)
    ops_actions.execute("resolve-payment-review", settled_one, expected_seq=shown["expectedSeq"], approved=False, **WHO)
    step = checkout_composition.ORDER_FINALIZATION.step("terminal_order_state")
    assert step.deadline is not None
    live = deadlines.live("order-finalization", "terminal_order_state", step.deadline)
    assert [str(w.trace_id) for w in live] == [waiting_one]
    assert OpenWait.objects.count() == 2  # the settled wait closes when its deadline comes round


def test_extending_a_wait_moves_its_deadline(manual_courier):
    order_id = waiting_order()["orderId"]
    wait = OpenWait.objects.get(trace_id=order_id)
    assert deadlines.extend(wait.wait_id, datetime.timedelta(minutes=15), "pause of delivery-execution")
    assert expire(34.9, "order_picked_up") == []
    assert [f.round for f in expire(35.1, "order_picked_up")] == [1]


# -- every await declares one ---------------------------------------------------------------------------------
def test_every_step_that_awaits_in_the_composition_declares_a_deadline_with_a_setting():
    awaiting = [(p.name, s.name) for p in checkout_composition.COMPOSITION.pipelines for s in p.steps if s.awaits]
    declared = [(p.name, s.name) for p, s, _ in deadlines.awaits(checkout_composition.COMPOSITION)]
    assert (
        awaiting
        == declared
        == [
            ("restaurant-acceptance", "acceptance_decision"),
            ("delivery-execution", "order_picked_up"),
            ("delivery-execution", "order_delivered"),
            ("order-finalization", "terminal_order_state"),
        ]
    )


def test_check_contracts_refuses_the_pickup_without_its_deadline():
    pipeline = checkout_composition.DELIVERY_EXECUTION
    steps = (dataclasses.replace(pipeline.steps[0], deadline=None), pipeline.steps[1])
    pipelines = tuple(
        dataclasses.replace(p, steps=steps) if p is pipeline else p for p in checkout_composition.COMPOSITION.pipelines
    )
    broken = dataclasses.replace(checkout_composition.COMPOSITION, pipelines=pipelines)
    assert [(p.id, p.message) for p in check_composition(broken)] == [
        (
            "pipelines.E029",
            "step delivery-execution/order_picked_up awaits an external event but declares no deadline "
            "(expected=a Deadline actual=none)",
        )
    ]


# -- a node whose clock is off: deadlines are the database's clock, when a wait opens and when the pass compares ---
SECONDS = datetime.timedelta(seconds=5)


def test_a_wait_opened_on_a_node_whose_clock_is_ahead_is_due_a_period_after_the_databases_time(manual_courier):
    with node_clock(15):  # the node the dispatch ran on; before: the wait opened, and was due, 15 minutes late
        order_id = place().view["orderId"]
    wait = WaitOpened.objects.get(trace_id=order_id)
    database = clock.now()
    assert database - SECONDS < wait.opened_at <= database
    assert wait.due_at - wait.opened_at == datetime.timedelta(minutes=20)


def test_a_deadline_pass_on_a_node_whose_clock_is_ahead_fires_no_wait_before_its_deadline(manual_courier):
    order_id = place().view["orderId"]  # its pickup is due in 20 minutes
    with node_clock(25):  # the beat node; before: the pickup's round expired 20 minutes early
        assert deadlines.expire(step="order_picked_up") == []
    assert WaitEnded.objects.count() == 0
    assert OpenWait.objects.get(trace_id=order_id).round == 1


def test_a_deadline_pass_on_a_node_whose_clock_is_behind_fires_a_wait_past_its_deadline(manual_courier):
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=25), tick=False):
        order_id = place().view["orderId"]  # placed 25 minutes ago: its pickup was due 5 minutes ago
    with node_clock(-15):  # the beat node; before: the deadline looked 10 minutes away, and nothing fired
        fired = deadlines.expire(step="order_picked_up")
    assert [(str(f.wait_id), f.round, f.outcome) for f in fired] == [
        (str(WaitOpened.objects.get(trace_id=order_id).id), 1, "expired")
    ]
    assert WaitEnded.objects.count() == 1


def test_the_dashboard_on_a_node_whose_clock_is_ahead_shows_no_wait_overdue_before_its_deadline(manual_courier):
    from opsconsole import waiting

    order_id = place().view["orderId"]
    with node_clock(25):  # the console's node; before: the pickup showed overdue, waiting for 25 minutes
        pickup = next(a for a in waiting.waiting() if a.step == "order_picked_up")
    [wait] = pickup.waits
    assert (str(wait.trace_id), wait.overdue) == (order_id, False)
    assert wait.age < datetime.timedelta(minutes=1)
