"""Races on PostgreSQL, settled by unique inserts: duplicate placements, accept vs cancel, cancel vs kitchen,
revise vs the restaurant (and so the kitchen) and revise vs cancel."""

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from checkout import services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.kitchen_task.models import KitchenTask
from checkout.order_accepted_by_restaurant.models import OrderAcceptedByRestaurant
from checkout.order_cancelled.models import OrderCancelled
from checkout.order_request.models import OrderRequest
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_reauthorized.models import PaymentReauthorized, ReauthorizationDeclined
from checkout.revised_order.models import RevisedOrder
from checkout.revised_ticket.models import RevisedTicket
from checkout.revision_decision.models import RevisionAccepted
from checkout.revision_requested.models import RevisionRequested
from pipelines.engine import consuming
from pipelines.engine.registry import checkpoint_models, engine
from pipelines.models import CheckpointLog
from tests.checkout import recording_gateway
from tests.checkout.conftest import order_body, place

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; return each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_eight_threads_placing_one_key_yield_one_order_and_seven_replays(demo_data):
    body = order_body()
    results = race(*[lambda: services.place_order(body, "race-key") for _ in range(8)])
    assert all(isinstance(r, services.Placed) for r in results), results
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert len({r.view["orderId"] for r in results}) == 1
    assert OrderRequest.objects.count() == 1
    assert services.get_order(results[0].view["orderId"])["state"] == "COMPLETED"


def test_two_placements_of_one_key_at_once_call_the_gateway_once_for_each_effect(demo_data, settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.MeetingGateway"
    recording_gateway.AUTHORIZE_CALLS.clear()
    recording_gateway.CAPTURE_CALLS.clear()
    recording_gateway.MEETING.reset()
    body = order_body()

    results = race(lambda: services.place_order(body, "race-key"), lambda: services.place_order(body, "race-key"))

    assert sorted(r.created for r in results) == [False, True], results
    order_id = uuid.UUID(results[0].view["orderId"])
    # Before: both runs of payment_authorized were in the gateway at once (two nodes, one client's key).
    assert recording_gateway.AUTHORIZE_CALLS == [order_id]
    assert recording_gateway.CAPTURE_CALLS == [order_id]
    assert services.get_order(str(order_id))["state"] == "COMPLETED"


def test_accept_racing_cancel_has_exactly_one_winner(demo_data):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]).view
    accept, cancel = race(
        lambda: services.accept_ticket(view["kitchenTicketId"]),
        lambda: services.cancel_order(view["orderId"]),
    )
    decision = AcceptanceDecision.objects.get(order_id=view["orderId"])
    assert KitchenCommitment.objects.filter(order_id=view["orderId"]).count() == 1
    cancelled = OrderCancelled.objects.filter(order_id=view["orderId"]).exists()
    prepared = KitchenTask.objects.filter(order_id=view["orderId"]).exists()
    assert cancelled != prepared
    if decision.decided_by == "CANCELLED":
        assert isinstance(accept, services.FailedPrecondition)
        assert cancel["cancellation"]["outcome"] == "ACCEPTED"
    else:
        assert not isinstance(accept, Exception)
        assert (cancel["cancellation"]["outcome"] == "ACCEPTED") == cancelled


def test_cancel_racing_preparation_has_exactly_one_winner(demo_data, settings):
    settings.TPFGO_COMPOSITION = "tests.checkout.compositions.WITHOUT_KITCHEN"
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]).view
    services.accept_ticket(view["kitchenTicketId"])
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    accepted = OrderAcceptedByRestaurant.objects.get(order_id=view["orderId"])
    assert not KitchenCommitment.objects.filter(order_id=view["orderId"]).exists()

    kitchen, cancel = race(
        lambda: engine().run("kitchen-preparation", accepted),
        lambda: services.cancel_order(view["orderId"]),
    )
    commitment = KitchenCommitment.objects.get(order_id=view["orderId"])
    if commitment.claimed_by == "KITCHEN":
        # Refused as preparing, or as terminal if the kitchen's run completed the order before the decision read it
        # (then the terminal fact was stored, and logged, before the refusal).
        reason = cancel["cancellation"]["reason"]
        assert cancel["cancellation"] == {"outcome": "REFUSED", "reason": reason}
        assert reason in ("ALREADY_PREPARING", "ALREADY_TERMINAL")
        if reason == "ALREADY_TERMINAL":
            logged = dict(
                CheckpointLog.objects.filter(
                    trace_id=view["orderId"], checkpoint_type__in=["TerminalOrderState", "CancellationRefused"]
                ).values_list("checkpoint_type", "seq")
            )
            assert logged["TerminalOrderState"] < logged["CancellationRefused"]
        assert not OrderCancelled.objects.filter(order_id=view["orderId"]).exists()
        assert services.get_order(view["orderId"])["state"] == "COMPLETED"
    else:
        assert cancel["cancellation"]["outcome"] == "ACCEPTED"
        assert kitchen.first.status == "lost"
        assert KitchenTask.objects.filter(order_id=view["orderId"]).count() == 0
        assert services.get_order(view["orderId"])["state"] == "CANCELLED"


ROUNDS = 8


def _lines(order_id: str) -> list[tuple[str, int]]:
    tasks = KitchenTask.objects.filter(order_id=order_id).exclude(task_name="pack").order_by("task_name")
    return [(t.menu_item_id, t.quantity) for t in tasks]


def _nothing_half_written(order_id: str) -> int:
    """Every accepted revision has all its rows; returns how many were accepted."""
    accepted = RevisionAccepted.objects.filter(order_id=order_id).count()
    for model in (PaymentReauthorized, RevisedOrder, RevisedTicket):
        assert model.objects.filter(order_id=order_id).count() == accepted, model.__name__
    claims = AcceptanceDecision.objects.filter(order_id=order_id, decided_by="REVISED").count()
    refused_after_claim = ReauthorizationDeclined.objects.filter(order_id=order_id).count()
    assert claims == accepted + refused_after_claim
    return accepted


def _racing_a_revision(other: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any, Any]:
    """A fresh order awaiting its restaurant; ``other(view)`` and a revision to two crêpes, released together."""
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    body = {"items": [{"menuItemId": "crepe", "quantity": 2}]}
    first, revise = race(lambda: other(view), lambda: services.revise_order(view["orderId"], body, "race"))
    return view, first, revise


def test_a_revision_racing_the_restaurant_and_the_kitchen_has_exactly_one_winner(demo_data):
    for _ in range(ROUNDS):
        view, accept, revise = _racing_a_revision(lambda v: services.accept_ticket(v["kitchenTicketId"]))
        assert not isinstance(revise, Exception), revise
        accepted = _nothing_half_written(view["orderId"])
        if revise["revision"]["outcome"] == "ACCEPTED":
            assert accepted == 1
            if isinstance(accept, Exception):  # the restaurant lost its round or met the open revision: again
                assert isinstance(accept, services.FailedPrecondition), accept
                assert not KitchenTask.objects.filter(order_id=view["orderId"]).exists()
                accept = services.accept_ticket(view["kitchenTicketId"])
            assert accept["state"] == "COMPLETED"
            assert _lines(view["orderId"]) == [("crepe", 2)]
        else:
            assert revise["revision"]["reason"] == "TOO_LATE" and accepted == 0
            assert not isinstance(accept, Exception), accept
            assert _lines(view["orderId"]) == [("omelette", 1)]
        assert KitchenCommitment.objects.filter(order_id=view["orderId"]).count() == 1


def test_a_revision_racing_a_cancellation_has_exactly_one_winner_per_round(demo_data):
    for _ in range(ROUNDS):
        view, cancel, revise = _racing_a_revision(lambda v: services.cancel_order(v["orderId"]))
        assert not isinstance(revise, Exception), revise
        accepted = _nothing_half_written(view["orderId"])
        if revise["revision"]["outcome"] == "ACCEPTED":
            assert accepted == 1
            if isinstance(cancel, Exception):  # it lost its round to the revision: undecided, ask again
                assert isinstance(cancel, (services.FailedPrecondition, services.Unavailable)), cancel
                assert not KitchenCommitment.objects.filter(order_id=view["orderId"]).exists()
                cancel = services.cancel_order(view["orderId"])
        else:
            assert revise["revision"]["reason"] == "ORDER_CANCELLED" and accepted == 0
        assert cancel["cancellation"] == {"outcome": "ACCEPTED", "reason": None}
        claims = AcceptanceDecision.objects.filter(order_id=view["orderId"]).order_by("round")
        assert [c.decided_by for c in claims] == ["REVISED", "CANCELLED"][-1 - accepted :]
        assert services.get_order(view["orderId"])["state"] == "CANCELLED"


def test_six_threads_revising_with_one_key_store_one_revision_and_agree_or_ask_again(demo_data):
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    body = {"items": [{"menuItemId": "crepe", "quantity": 2}]}
    results = race(*[lambda: services.revise_order(view["orderId"], body, "one-key") for _ in range(6)])
    answers = [r for r in results if not isinstance(r, Exception)]
    asked_again = [r for r in results if isinstance(r, Exception)]
    assert answers and all(isinstance(r, services.FailedPrecondition) for r in asked_again), results
    assert {r["revision"]["outcome"] for r in answers} == {"ACCEPTED"}
    assert len({r["revision"]["revisionId"] for r in answers}) == 1
    assert _nothing_half_written(view["orderId"]) == 1
    assert RevisionRequested.objects.filter(order_id=view["orderId"]).count() == 1
    again = services.revise_order(view["orderId"], body, "one-key")
    assert again["revision"] == answers[0]["revision"]


HANDED: list[tuple[str, str, str, str]] = []


def hand(*message: str) -> None:
    """``TPFGO_HANDOFF_SEND``: the messages a broker would carry, kept for the test to deliver."""
    HANDED.append(message)  # type: ignore[arg-type]


def to_the_capture(settings) -> tuple[uuid.UUID, tuple[str, str, str, str]]:
    """Place an order with per-pipeline transactions and every publication queued, and deliver its hand-offs one
    after the other (a worker's part) up to the capture's: its order id and the capture's message, not delivered."""
    settings.TPFGO_ATOMICITY = "pipeline"
    settings.TPFGO_PUBLICATION_MODES = "*=queue"
    settings.TPFGO_HANDOFF_SEND = "tests.checkout.test_races.hand"
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.MeetingCaptureGateway"
    recording_gateway.CAPTURE_CALLS.clear()
    recording_gateway.CAPTURE_MEETING.reset()
    HANDED.clear()
    order_id = uuid.UUID(place().view["orderId"])
    for _ in range(10):
        if HANDED[-1][0] == "payment-capture":
            break
        consuming.consume(*HANDED[-1])
    assert HANDED[-1][0] == "payment-capture", HANDED
    return order_id, HANDED[-1]


def test_two_copies_of_a_queued_hand_off_at_once_capture_once_with_per_pipeline_transactions(demo_data, settings):
    order_id, capture = to_the_capture(settings)

    results = race(lambda: consuming.consume(*capture), lambda: consuming.consume(*capture))

    assert sorted(results) == ["duplicate", "inserted"], results  # the later copy found the hand-off closed
    # Before: both copies were in the gateway at once (a redelivery, or the sweeper's resend behind a backlog).
    assert recording_gateway.CAPTURE_CALLS == [order_id]
    assert PaymentOutcome.objects.filter(order_id=order_id).count() == 1


def test_two_runs_of_the_capture_at_once_capture_once_with_per_pipeline_transactions(demo_data, settings):
    # A parked retry of the capture beside a run of it still live past the claim timeout: no hand-off between them.
    order_id, (_pipeline, checkpoint_type, checkpoint_id, _trace) = to_the_capture(settings)
    model = next(m for m in checkpoint_models().values() if m.__name__ == checkpoint_type)
    handed = model.objects.get(pk=checkpoint_id)

    results = race(lambda: engine().run("payment-capture", handed), lambda: engine().run("payment-capture", handed))

    assert sorted(r.first.status.value for r in results) == ["inserted", "replayed"], results
    # Before: both runs were in the gateway at once; the later one's insert met the row and replayed it.
    assert recording_gateway.CAPTURE_CALLS == [order_id]
    assert PaymentOutcome.objects.filter(order_id=order_id).count() == 1
