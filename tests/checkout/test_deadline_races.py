"""A wait's event and its deadline released together (PostgreSQL, one connection per thread): each round of the
wait ends exactly once, and the round's outcome and the event's fact never both come from the same round.

The deadlines are set to 0 minutes, so a wait is due as soon as it opens: no clock to move, no sleep.
"""

from __future__ import annotations

import uuid
from functools import partial

import pytest
from django.db import connection

from checkout import ops_actions, services, tasks
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.courier_reassigned.models import CourierReassigned
from checkout.models import Courier
from checkout.order_accepted_by_restaurant.models import AcceptanceTimedOut, OrderAcceptedByRestaurant
from checkout.order_picked_up.models import OrderPickedUp
from checkout.payment_review_resolved.models import PaymentReviewResolved
from pipelines.contracts.status import FailedPrecondition
from pipelines.models import WaitEnded
from pipelines.recovery import deadlines
from tests.checkout.conftest import place
from tests.checkout.test_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 8
WHO = {"actor": "ops:erin", "reason": "race test"}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


def ends(order_id: str) -> dict[int, str]:
    """How each round of the order's one wait ended."""
    rows = WaitEnded.objects.filter(wait_id__in=_waits(order_id)).values_list("round", "outcome")
    assert len(rows) == len(set(r for r, _ in rows))  # one ending per round
    return dict(rows)


def _waits(order_id: str) -> list[uuid.UUID]:
    from pipelines.models import WaitOpened

    return list(WaitOpened.objects.filter(trace_id=order_id).values_list("id", flat=True))


def test_a_pickup_racing_its_deadline_ends_the_round_once(demo_data, settings):
    settings.TPFGO_PICKUP_DEADLINE_MINUTES = 0
    seen = set()
    for _ in range(ROUNDS):
        Courier.objects.exclude(id="courier-max").update(available=False)
        Courier.objects.filter(id="courier-max").update(available=True)
        view = place().view
        Courier.objects.filter(id="courier-ann").update(available=True)  # someone to reassign to
        pickup, _ = race(
            partial(services.pickup, view["dispatchId"]),
            partial(deadlines.expire, step="order_picked_up"),
        )
        order_id = uuid.UUID(view["orderId"])
        rounds = ends(view["orderId"])
        reassigned = CourierReassigned.objects.filter(order_id=order_id).count()
        picked = OrderPickedUp.objects.filter(order_id=order_id).count()
        if rounds[1] == "resolved":  # the pickup ended round 1: the deadline did nothing
            assert (reassigned, picked) == (0, 1), rounds
            seen.add("pickup first")
        elif isinstance(pickup, FailedPrecondition):  # the deadline ended round 1 under the pickup: it lost
            assert (rounds[1], reassigned, picked) == ("expired", 1, 0), rounds
            seen.add("deadline first, pickup refused")
        else:  # the deadline's round was over before the pickup looked: the pickup resolved the next round
            assert (rounds, reassigned, picked) == ({1: "expired", 2: "resolved"}, 1, 1), (rounds, pickup)
            seen.add("deadline first, pickup after")
        if picked:  # the courier is free for the next round
            services.dropoff(view["dispatchId"])
    assert seen  # which interleavings ran is up to the scheduler; every one of them is checked above


def test_an_acceptance_racing_its_timeout_is_one_decision(demo_data, settings):
    settings.TPFGO_ACCEPTANCE_DEADLINE_MINUTES = 0
    for _ in range(ROUNDS):
        view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
        accepted, timed_out = race(
            partial(services.accept_ticket, view["kitchenTicketId"]),
            tasks.expire_acceptance,
        )
        order_id = uuid.UUID(view["orderId"])
        decision = AcceptanceDecision.objects.get(order_id=order_id)
        accepts = OrderAcceptedByRestaurant.objects.filter(order_id=order_id).count()
        timeouts = AcceptanceTimedOut.objects.filter(order_id=order_id).count()
        if decision.decided_by == "ACCEPTED":
            assert (accepts, timeouts, timed_out) == (1, 0, 0), accepted
            assert not isinstance(accepted, Exception), accepted
        else:
            assert decision.decided_by == "TIMED_OUT"
            assert (accepts, timeouts, timed_out) == (0, 1, 1)
            assert isinstance(accepted, FailedPrecondition), accepted
        assert len(ends(view["orderId"])) == 1


def test_ops_approving_a_review_racing_its_deadline_charges_or_voids_never_both(demo_data, settings, gateway):
    settings.TPFGO_REVIEW_DEADLINE_MINUTES = 0
    for _ in range(ROUNDS):
        order_id = place(consumer="dave").view["orderId"]
        seq = ops_actions.preview("resolve-payment-review", order_id, approved=True)["expectedSeq"]
        approve = partial(
            ops_actions.execute, "resolve-payment-review", order_id, expected_seq=seq, approved=True, **WHO
        )
        race(approve, partial(deadlines.expire, step="terminal_order_state"))
        key = uuid.UUID(order_id)
        resolved = PaymentReviewResolved.objects.get(order_id=key)
        voided = AuthorizationVoided.objects.filter(order_id=key).count()
        if resolved.approved:
            assert (resolved.resolved_by, voided, gateway.CAPTURES.count(key), gateway.VOIDS.count(key)) == (
                "ops:erin",
                0,
                1,
                0,
            )
        else:
            assert (resolved.resolved_by, voided, gateway.CAPTURES.count(key), gateway.VOIDS.count(key)) == (
                "deadline",
                1,
                0,
                1,
            )
        assert len(ends(order_id)) == 1
