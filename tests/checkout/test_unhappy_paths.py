"""Every business unhappy path ends at its terminal checkpoint with its label, and nothing past the decision."""

import datetime

import pytest
import time_machine

from checkout import services, tasks
from checkout.models import Courier
from tests.checkout.conftest import checkpoint_types, place
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db

AFTER_APPROVAL = {
    "OrderApproved",
    "TicketCreated",
    "AcceptanceDecision",
    "KitchenCommitment",
    "KitchenTask",
    "DeliveryAssigned",
    "PaymentOutcome",
    "TerminalOrderState",
    "OrderCancelled",
}
AFTER_ACCEPTANCE = {
    "OrderAcceptedByRestaurant",
    "KitchenTask",
    "OrderReadyForDispatch",
    "DeliveryAssigned",
    "OrderDelivered",
    "PaymentOutcome",
    "TerminalOrderState",
}


@pytest.mark.parametrize(
    ("kwargs", "reason", "decision"),
    [
        ({"consumer": "carol"}, "CONSUMER_VERIFICATION_FAILED", "ConsumerRejected"),
        (
            {"restaurant": "sushi-kaiten", "items": [{"menuItemId": "miso", "quantity": 1}]},
            "ORDER_MINIMUM_NOT_MET",
            "ConsumerRejected",
        ),
        ({"paymentToken": "tok_declined"}, "PAYMENT_DECLINED", "PaymentDeclined"),
        ({"paymentToken": "tok_unknown"}, "PAYMENT_DECLINED", "PaymentDeclined"),
    ],
    ids=["inactive-consumer", "below-minimum", "declined", "unknown-token"],
)
def test_rejections_end_in_order_rejected(demo_data, kwargs, reason, decision):
    view = place(**kwargs).view
    types = checkpoint_types(view["orderId"])
    assert (view["state"], view["reason"]) == ("REJECTED", reason)
    assert types[decision] == 1 and types["OrderRejected"] == 1
    assert not AFTER_APPROVAL & set(types)
    assert "AuthorizationVoided" not in types


def manual_order(**kwargs):
    return place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}], **kwargs).view


def test_a_manual_restaurant_stops_the_chain_until_it_accepts(demo_data):
    view = manual_order()
    assert view["state"] == "AWAITING_ACCEPTANCE" and view["kitchenTicketId"]
    assert "AcceptanceDecision" not in checkpoint_types(view["orderId"])

    accepted = services.accept_ticket(view["kitchenTicketId"], "2026-11-26T12:00:00Z")

    assert accepted["state"] == "COMPLETED"
    before = all_insert_only_counts()
    # The same command again is a replay with the same answer; another decision is refused.
    assert services.accept_ticket(view["kitchenTicketId"], "2026-11-26T12:00:00Z") == accepted
    with pytest.raises(services.FailedPrecondition):
        services.reject_ticket(view["kitchenTicketId"], "too late")
    assert all_insert_only_counts() == before


def test_a_restaurant_reject_cancels_and_voids(demo_data):
    view = manual_order()
    rejected = services.reject_ticket(view["kitchenTicketId"], "out of eggs")
    types = checkpoint_types(view["orderId"])
    assert (rejected["state"], rejected["reason"]) == ("CANCELLED", "RESTAURANT_DECLINED")
    assert types["TicketRejected"] == types["AuthorizationVoided"] == types["OrderCancelled"] == 1
    assert not AFTER_ACCEPTANCE & set(types)


def test_an_unanswered_ticket_times_out_after_the_deadline(demo_data):
    start = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        view = manual_order()
    with time_machine.travel(start + datetime.timedelta(minutes=29), tick=False):
        assert tasks.expire_acceptance() == 0
    with time_machine.travel(start + datetime.timedelta(minutes=31), tick=False):
        assert tasks.expire_acceptance() == 1
        assert tasks.expire_acceptance() == 0
    order = services.get_order(view["orderId"])
    types = checkpoint_types(view["orderId"])
    assert (order["state"], order["reason"]) == ("CANCELLED", "ACCEPTANCE_TIMED_OUT")
    assert types["AcceptanceTimedOut"] == types["AuthorizationVoided"] == types["OrderCancelled"] == 1
    assert not AFTER_ACCEPTANCE & set(types)


def test_a_consumer_cancel_before_preparation_cancels_and_a_repeat_replays(demo_data):
    view = manual_order()
    result = services.cancel_order(view["orderId"], "changed my mind")
    types = checkpoint_types(view["orderId"])
    assert result["cancellation"] == {"outcome": "ACCEPTED", "reason": None}
    assert (result["order"]["state"], result["order"]["reason"]) == ("CANCELLED", "CONSUMER_CANCELLED")
    for name in (
        "CancellationRequested",
        "AcceptanceDecision",
        "KitchenCommitment",
        "CancellationAccepted",
        "TicketWithdrawn",
        "AuthorizationVoided",
        "OrderCancelled",
    ):
        assert types[name] == 1, name
    assert not AFTER_ACCEPTANCE & set(types)

    again = services.cancel_order(view["orderId"])
    assert again["cancellation"] == result["cancellation"]
    assert checkpoint_types(view["orderId"]) == types
    with pytest.raises(services.FailedPrecondition):
        services.accept_ticket(view["kitchenTicketId"])


def use_manual_courier():
    Courier.objects.filter(completion_mode="auto").update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)


def test_a_cancel_after_preparation_started_is_refused(demo_data):
    use_manual_courier()
    view = place().view
    assert view["state"] == "DISPATCHED"
    result = services.cancel_order(view["orderId"])
    assert result["cancellation"] == {"outcome": "REFUSED", "reason": "ALREADY_PREPARING"}
    assert result["order"]["state"] == "DISPATCHED"
    types = checkpoint_types(view["orderId"])
    assert types["CancellationRefused"] == 1
    assert not {"CancellationAccepted", "OrderCancelled", "AuthorizationVoided"} & set(types)


def test_a_cancel_of_a_finished_order_is_refused_as_terminal(demo_data):
    view = place().view
    result = services.cancel_order(view["orderId"])
    assert result["cancellation"] == {"outcome": "REFUSED", "reason": "ALREADY_TERMINAL"}
    assert services.cancel_order(view["orderId"])["cancellation"]["reason"] == "ALREADY_TERMINAL"


def test_a_manual_courier_confirms_pickup_then_dropoff(demo_data):
    use_manual_courier()
    view = place().view
    with pytest.raises(services.FailedPrecondition):
        services.dropoff(view["dispatchId"])
    picked = services.pickup(view["dispatchId"])
    assert picked["state"] == "PICKED_UP"
    before = all_insert_only_counts()
    assert services.pickup(view["dispatchId"]) == picked  # the same command again: a replay, the same answer
    assert all_insert_only_counts() == before
    delivered = services.dropoff(view["dispatchId"])
    assert delivered["state"] == "COMPLETED"
    assert services.dropoff(view["dispatchId"]) == delivered


def test_a_declined_capture_voids_and_fails_compensated(demo_data):
    view = place(paymentToken="tok_capture_declined").view
    types = checkpoint_types(view["orderId"])
    assert (view["state"], view["outcome"], view["failureCode"]) == (
        "PAYMENT_FAILED",
        "FAILED_COMPENSATED",
        "capture_declined",
    )
    assert types["AuthorizationVoided"] == types["TerminalOrderState"] == 1
    assert "OrderCancelled" not in types


def test_a_capture_under_review_waits_for_ops(demo_data):
    view = place(consumer="dave").view
    types = checkpoint_types(view["orderId"])
    assert view["state"] == "REVIEW_REQUIRED" and view["outcome"] is None
    assert types["PaymentOutcome"] == 1
    assert not {"TerminalOrderState", "AuthorizationVoided"} & set(types)


@pytest.mark.parametrize("token", ["tok_flaky_2", "tok_down"])
def test_a_gateway_failure_stalls_the_order_but_keeps_it(demo_data, token):
    placed = place(paymentToken=token)
    view = placed.view
    assert placed.created and view["state"] == "APPROVAL_PENDING"
    assert view["stalled"] == {
        "pipeline": "consumer-validation",
        "step": "payment_authorized",
        "errorClass": "checkout.payments.GatewayUnavailable",
        "message": "payment gateway unavailable (simulated, attempt 1)",
        "attempts": 1,
        "deadLettered": False,
    }
