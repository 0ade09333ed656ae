"""The sweeper on the checkout chain: a stall is resumed even when a side pipeline ran on the order after it, or
while another pipeline of the order has an item parked; an order waiting for its payment review is not."""

import dataclasses
import datetime
from collections import Counter

import pytest
from django.utils import timezone

from checkout import services
from checkout.composition import COMPOSITION
from checkout.models import Courier
from pipelines.models import CheckpointLog, ParkedItem, Resumption
from pipelines.recovery import sweeper
from tests.checkout.conftest import checkpoint_types, place
from tests.pipelines.test_sweeper import RESUMES

pytestmark = pytest.mark.django_db

# The kitchen commits to the order, then the process dies before the kitchen tasks.
STOPS_AFTER_COMMITMENT = dataclasses.replace(
    COMPOSITION,
    pipelines=tuple(
        dataclasses.replace(p, steps=p.steps[:1]) if p.name == "kitchen-preparation" else p
        for p in COMPOSITION.pipelines
    ),
)


# The cancellation request is stored, then the process dies before it is decided.
STOPS_AFTER_CANCELLATION_REQUEST = dataclasses.replace(
    COMPOSITION,
    pipelines=tuple(
        dataclasses.replace(p, steps=p.steps[:1]) if p.name == "cancellation-request" else p
        for p in COMPOSITION.pipelines
    ),
)


def test_a_cancellation_cut_after_its_request_is_decided_while_the_orders_dispatch_is_parked(demo_data, settings):
    Courier.objects.update(available=False)  # dispatch parks, retrying, for want of a courier
    order_id = place().view["orderId"]
    assert ParkedItem.objects.filter(trace_id=order_id, step="delivery_assigned").count() == 1
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_CANCELLATION_REQUEST"
    with pytest.raises(services.Unavailable, match="recorded but not decided yet"):
        services.cancel_order(order_id)
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    settings.TPFGO_RESUME_ENQUEUE = ""  # the sweeper resumes here, not through the worker

    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))

    # The request's position is resumed: the cancellation is decided (refused: the kitchen has prepared the order).
    # The kitchen's output, which dispatch's parked item stopped on, is left to that item's retry: the sweep settles
    # it without sending a resume.
    ready, requested = CheckpointLog.objects.filter(
        trace_id=order_id, checkpoint_type__in=["OrderReadyForDispatch", "CancellationRequested"]
    ).order_by("seq")
    assert report.resumes == [(order_id, requested.seq)]
    decisions = Resumption.objects.order_by("seq").values_list("seq", "decision", "detail")
    assert list(decisions) == [(ready.seq, "skipped", "open parking"), (requested.seq, "resumed", "")]
    assert services.cancel_order(order_id)["cancellation"] == {"outcome": "REFUSED", "reason": "ALREADY_PREPARING"}
    counts = checkpoint_types(order_id)
    assert (counts["CancellationRequested"], counts["CancellationRefused"], counts["DeliveryAssigned"]) == (1, 1, 0)


def test_an_order_stuck_in_the_kitchen_completes_after_a_refused_cancellation(demo_data, settings):
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_COMMITMENT"
    order_id = place().view["orderId"]
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    settings.TPFGO_RESUME_ENQUEUE = ""  # the sweeper resumes here, not through the worker
    assert services.get_order(order_id)["state"] != "COMPLETED"
    refused = services.cancel_order(order_id)["cancellation"]
    assert refused == {"outcome": "REFUSED", "reason": "ALREADY_PREPARING"}  # the newest rows: a refusal

    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))

    assert len(report.resumes) == 1
    assert services.get_order(order_id)["state"] == "COMPLETED"
    untouched = place().view["orderId"]  # the same order, never stuck: exactly its rows, plus the refusal's
    expected = checkpoint_types(untouched) + Counter({"CancellationRequested": 1, "CancellationRefused": 1})
    assert checkpoint_types(order_id) == expected
    assert list(Resumption.objects.values_list("decision", flat=True)) == ["resumed"]


def test_an_order_waiting_for_its_payment_review_is_settled_by_the_sweep_and_counts_no_resume(demo_data, settings):
    """The capture's outcome goes on through a skipped void to the terminal state, which waits for the review: the
    step after the outcome does not await, the one after it does. The sweep sent a resume for every such order
    (tpfgo_sweep_actions_total{action="resumes"}: TPFGoSweeperRecoveringWork fired on orders waiting for review)."""
    settings.TPFGO_RESUME_ENQUEUE = "tests.pipelines.test_sweeper.capture_resume"
    RESUMES.clear()
    order_id = place(paymentToken="tok_review").view["orderId"]
    outcome = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type="PaymentOutcome")

    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))

    assert (report.resumes, RESUMES) == ([], [])
    decisions = Resumption.objects.values_list("seq", "decision", "detail", "worker")
    assert list(decisions) == [(outcome.seq, "skipped", "awaits order-finalization.terminal_order_state", "sweeper")]
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
    assert checkpoint_types(order_id)["TerminalOrderState"] == 0
    assert sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=10)).resumes == [] and RESUMES == []
    assert Resumption.objects.count() == 1  # decided once
