"""A fork from a capture held for review (its ``PaymentOutcome``) waits for a review of its own: ops' decision on
it decides the fork, not the parent, and the sweep leaves the waiting fork alone."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from checkout import ops_actions, services
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import MAIN_BRANCH, CheckpointLog, ForkedFrom, OpenWait, Resumption, WaitOpened
from pipelines.recovery import deadlines, sweeper
from tests.checkout.conftest import place
from tests.pipelines.test_sweeper import RESUMES

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "review the payment again"}


def run(action: str, order_id: str, **params: object) -> dict:
    shown = ops_actions.preview(action, order_id, **params)
    assert shown["allowed"], shown["why"]
    return ops_actions.execute(action, order_id, expected_seq=shown["expectedSeq"], **WHO, **params)


def fork_from_the_outcome(order_id: str) -> tuple[ForkedFrom, CheckpointLog]:
    outcome = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type="PaymentOutcome")
    run("fork", order_id, checkpoint_id=str(outcome.checkpoint_id))
    return ForkedFrom.objects.get(trace_id=order_id), outcome


def resolutions(order_id: str) -> list[tuple[str, bool]]:
    return sorted(PaymentReviewResolved.objects.filter(order_id=order_id).values_list("branch", "approved"))


def test_ops_approving_the_review_of_a_fork_from_the_capture_decides_the_fork_not_the_parent(demo_data, gateway):
    order_id = place(paymentToken="tok_review").view["orderId"]
    forked, _ = fork_from_the_outcome(order_id)
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
    assert sorted(WaitOpened.objects.filter(trace_id=order_id).values_list("branch", flat=True)) == sorted(
        [MAIN_BRANCH, forked.branch]
    )

    after = run("resolve-payment-review", order_id, approved=True)

    assert after["state"] == "COMPLETED"
    assert resolutions(order_id) == [(forked.branch, True)]
    terminal = TerminalOrderState.objects.filter(order_id=order_id).values_list("branch", "outcome")
    assert list(terminal) == [(forked.branch, "COMPLETED")]
    assert gateway.CAPTURES == [uuid.UUID(order_id)] and gateway.VOIDS == []


def test_a_fork_waiting_for_its_own_review_is_settled_by_the_sweep_and_counts_no_resume(demo_data, settings):
    """The parent's review was declined and its wait closed; the fork from the capture waits again, on its branch.
    The sweep looked only for the parent's wait at the capture's position, found none open, and sent a resume."""
    order_id = place(paymentToken="tok_review").view["orderId"]
    run("resolve-payment-review", order_id, approved=False)
    later = timezone.now() + datetime.timedelta(days=2)
    assert [f.outcome for f in deadlines.expire(now=later, step="terminal_order_state")] == ["settled"]
    forked, outcome = fork_from_the_outcome(order_id)
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
    assert WaitOpened.objects.get(pk__in=OpenWait.objects.values("wait_id")).branch == forked.branch
    settings.TPFGO_RESUME_ENQUEUE = "tests.pipelines.test_sweeper.capture_resume"
    RESUMES.clear()

    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(minutes=5))

    assert (report.resumes, RESUMES) == ([], [])
    decisions = Resumption.objects.values_list("seq", "decision", "detail")
    assert list(decisions) == [(outcome.seq, "skipped", "awaits order-finalization.terminal_order_state")]
    assert resolutions(order_id) == [(MAIN_BRANCH, False)]
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
