"""Two different decisions released together: exactly one wins, the other answers FAILED_PRECONDITION and
inserts nothing; the same decision twice is a replay with the same answer (PostgreSQL, one connection per thread).
"""

import uuid
from functools import partial

import pytest
from django.db import connection

from checkout import ops_actions, selectors, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.models import Courier
from checkout.ops_courier_choice.models import OpsCourierChoice
from checkout.order_accepted_by_restaurant.models import OrderAcceptedByRestaurant, TicketRejected
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_picked_up.models import OrderPickedUp
from checkout.payment_review_resolved.models import PaymentReviewResolved
from pipelines.contracts.status import FailedPrecondition
from pipelines.engine.registry import engine
from pipelines.models import OpsAction
from tests.checkout import recording_gateway
from tests.checkout.conftest import place
from tests.checkout.test_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 8
WHO = {"actor": "ops:erin", "reason": "race test"}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


def _manual_order() -> dict:
    return place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view


def _one_winner(results: list, labels: tuple[str, str]) -> tuple[str, object]:
    """Exactly one call answered, the other raised FAILED_PRECONDITION: the winner's label and answer."""
    failed = [isinstance(r, FailedPrecondition) for r in results]
    assert sorted(failed) == [False, True], results
    won = failed.index(False)
    assert not isinstance(results[won], Exception), results
    return labels[won], results[won]


def test_accept_racing_reject_has_one_winner_and_the_loser_is_refused(demo_data):
    for n in range(ROUNDS):
        view = _manual_order()
        order_id = view["orderId"]
        results = race(
            partial(services.accept_ticket, view["kitchenTicketId"]),
            partial(services.reject_ticket, view["kitchenTicketId"], f"closed {n}"),
        )
        winner, answer = _one_winner(results, ("ACCEPTED", "REJECTED"))
        decision = AcceptanceDecision.objects.get(order_id=order_id)
        assert decision.decided_by == winner
        accepted = OrderAcceptedByRestaurant.objects.filter(order_id=order_id).count()
        rejected = TicketRejected.objects.filter(order_id=order_id).count()
        assert (accepted, rejected) == ((1, 0) if winner == "ACCEPTED" else (0, 1))
        assert (answer["state"] == "CANCELLED") == (winner == "REJECTED")


def test_the_same_acceptance_twice_at_once_is_one_decision_and_two_equal_answers(demo_data):
    for _ in range(ROUNDS):
        view = _manual_order()
        ready_by = "2030-01-01T12:00:00Z"
        first, second = race(*[partial(services.accept_ticket, view["kitchenTicketId"], ready_by)] * 2)
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        # Each answer is the order as its caller saw it (the replay may answer while the winner's chain runs on).
        assert {first["orderId"], second["orderId"]} == {view["orderId"]}
        assert "CANCELLED" not in (first["state"], second["state"])
        assert AcceptanceDecision.objects.get(order_id=view["orderId"]).decided_by == "ACCEPTED"
        assert services.get_order(view["orderId"])["state"] == "COMPLETED"
        # ... and once more, after the fact: the same answer again.
        assert services.accept_ticket(view["kitchenTicketId"], ready_by) == services.get_order(view["orderId"])


def test_two_ops_choosing_different_couriers_at_once_have_one_winner(demo_data):
    for _ in range(ROUNDS):
        Courier.objects.update(available=False)
        order_id = place().view["orderId"]
        shown = ops_actions.preview("assign-courier", order_id, courier_id="courier-ben")
        assert shown["allowed"], shown["why"]
        seq = shown["expectedSeq"]
        results = race(
            *[
                partial(ops_actions.execute, "assign-courier", order_id, expected_seq=seq, courier_id=c, **WHO)
                for c in ("courier-ben", "courier-ann")
            ]
        )
        winner, answer = _one_winner(results, ("courier-ben", "courier-ann"))
        assert OpsCourierChoice.objects.get(order_id=order_id).courier_id == winner
        assert answer["courierId"] == winner
        assert OpsAction.objects.filter(trace_id=order_id).count() == 1


@pytest.fixture
def captures(settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.RecordingGateway"
    recording_gateway.CAPTURES.clear()
    yield recording_gateway.CAPTURES
    recording_gateway.CAPTURES.clear()


def test_approving_and_declining_one_payment_review_at_once_has_one_winner_and_one_capture_at_most(demo_data, captures):
    for _ in range(ROUNDS):
        order_id = place(consumer="dave").view["orderId"]
        seq = ops_actions.preview("resolve-payment-review", order_id, approved=True)["expectedSeq"]
        results = race(
            *[
                partial(ops_actions.execute, "resolve-payment-review", order_id, expected_seq=seq, approved=a, **WHO)
                for a in (True, False)
            ]
        )
        winner, answer = _one_winner(results, ("approved", "declined"))
        resolved = PaymentReviewResolved.objects.get(order_id=order_id)
        assert resolved.approved == (winner == "approved")
        assert answer["state"] == ("COMPLETED" if winner == "approved" else "PAYMENT_FAILED")
        assert OpsAction.objects.filter(trace_id=order_id).count() == 1
        # The gateway captured only for a winning approval: a losing one never reached it.
        assert captures.count(uuid.UUID(order_id)) == (1 if winner == "approved" else 0)


def test_an_approval_run_again_by_the_engine_captures_once(demo_data, captures):
    # A rerun of the same step (a retry after a crash, a replay) must not charge again.
    order_id = uuid.UUID(place(consumer="dave").view["orderId"])
    outcome = selectors.payment_outcome(order_id)
    for _ in range(2):
        engine().run("resolve-payment-review", outcome, event={"approved": True, "by": "ops:erin"})
    assert PaymentReviewResolved.objects.filter(order_id=order_id).count() == 1
    assert captures == [order_id]


def test_two_pickups_of_one_delivery_at_once_are_one_pickup_and_two_equal_answers(demo_data):
    Courier.objects.filter(completion_mode="auto").update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    for _ in range(ROUNDS):
        view = place().view
        first, second = race(*[partial(services.pickup, view["dispatchId"])] * 2)
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        assert first == second and first["state"] == "PICKED_UP"
        assert OrderPickedUp.objects.filter(order_id=uuid.UUID(view["orderId"])).count() == 1
        assert services.dropoff(view["dispatchId"])["state"] == "COMPLETED"  # the courier is free for the next round


def test_a_reject_racing_a_cancellation_has_one_decision_and_answers_that_agree(demo_data):
    for _ in range(ROUNDS):
        view = _manual_order()
        reject, cancel = race(
            partial(services.reject_ticket, view["kitchenTicketId"], "closed"),
            partial(services.cancel_order, view["orderId"]),
        )
        decision = AcceptanceDecision.objects.get(order_id=view["orderId"])
        assert not isinstance(cancel, Exception), cancel
        if decision.decided_by == "CANCELLED":
            assert isinstance(reject, FailedPrecondition), reject
            assert cancel["cancellation"]["outcome"] == "ACCEPTED"
            assert TicketRejected.objects.filter(order_id=view["orderId"]).count() == 0
        else:
            assert decision.decided_by == "REJECTED"
            assert reject["state"] == "CANCELLED", reject
            assert TicketRejected.objects.filter(order_id=view["orderId"]).count() == 1
        # Either way the order is cancelled exactly once.
        assert OrderCancelled.objects.filter(order_id=view["orderId"]).count() == 1
        assert services.get_order(view["orderId"])["state"] == "CANCELLED"
