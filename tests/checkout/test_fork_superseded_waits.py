"""A fork from the checkpoint the parent still waits on (the capture held for review, the ticket the restaurant has
not decided) supersedes the parent's wait: the fork ends it as settled, so the parent's deadline neither declines
and voids the payment nor times out the restaurant behind the fork's back, and only the fork's own deadline, and
only what happens on the fork's branch, ends the fork's wait."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import time_machine

from checkout import composition as checkout_composition
from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.payment_outcome.models import PaymentOutcome
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.terminal_order_state.models import TerminalOrderState
from checkout.ticket_created.models import TicketCreated
from pipelines.engine.registry import engine
from pipelines.models import MAIN_BRANCH, CheckpointLog, ForkedFrom, OpenWait, WaitEnded, WaitOpened
from pipelines.recovery import deadlines, forks
from pipelines.store import branches
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "decide again with the fixed rules"}
T0 = datetime.datetime(2030, 5, 6, 12, 0, tzinfo=datetime.UTC)
DAY = 24 * 60


def at(minutes: float) -> Any:
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def fork(order_id: str, checkpoint_type: str) -> tuple[ForkedFrom, dict[str, Any]]:
    """Fork the order from its (one) checkpoint of that type: the fork and its preview."""
    checkpoint = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type=checkpoint_type).checkpoint_id
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(checkpoint))
    assert shown["allowed"], shown["why"]
    ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(checkpoint), **WHO)
    return ForkedFrom.objects.get(trace_id=order_id), shown


def ended(order_id: str) -> list[tuple[str, str, str]]:
    """Each ended round of the order's waits: (its wait's branch, outcome, detail)."""
    branches = dict(WaitOpened.objects.filter(trace_id=order_id).values_list("id", "branch"))
    rows = WaitEnded.objects.filter(wait_id__in=branches).values_list("wait_id", "outcome", "detail")
    return sorted((branches[wait], outcome, detail) for wait, outcome, detail in rows)


def open_branches(order_id: str) -> list[str]:
    waiting = OpenWait.objects.filter(trace_id=order_id).values("wait_id")
    return list(WaitOpened.objects.filter(pk__in=waiting).values_list("branch", flat=True))


def expire(minutes: float, step: str) -> list[str]:
    with at(minutes):
        return [f.outcome for f in deadlines.expire(step=step)]


# -- a fork from the capture held for review --------------------------------------------------------------------
def reviewed_order() -> str:
    with at(0):
        view = place(paymentToken="tok_review").view
    assert view["state"] == "REVIEW_REQUIRED"
    return view["orderId"]


def test_a_fork_from_the_capture_ends_the_parents_review_wait_and_its_preview_says_so(demo_data, gateway):
    order_id = reviewed_order()

    with at(10):
        forked, shown = fork(order_id, "PaymentOutcome")

    closing = [row["summary"] for row in shown["inserts"] if row["type"] == "WaitEnded"]
    assert closing == ["settled: order-finalization/terminal_order_state on branch main, superseded by a fork"]
    assert ended(order_id) == [(MAIN_BRANCH, "settled", "superseded by a fork")]
    assert open_branches(order_id) == [forked.branch]


def test_the_parents_review_deadline_no_longer_voids_the_payment_a_fork_still_waits_to_capture(demo_data, gateway):
    order_id = reviewed_order()
    with at(10):
        forked, _ = fork(order_id, "PaymentOutcome")

    assert expire(DAY + 1, "terminal_order_state") == []  # the parent's deadline: its wait ended at the fork
    assert gateway.VOIDS == []
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
    with at(DAY + 5):
        shown = ops_actions.preview("resolve-payment-review", order_id, approved=True)
        after = ops_actions.execute(
            "resolve-payment-review", order_id, expected_seq=shown["expectedSeq"], approved=True, **WHO
        )

    assert after["state"] == "COMPLETED"
    assert gateway.CAPTURES == [uuid.UUID(order_id)] and gateway.VOIDS == []
    assert AuthorizationVoided.objects.filter(order_id=order_id).count() == 0
    assert list(TerminalOrderState.objects.filter(order_id=order_id).values_list("branch", "outcome")) == [
        (forked.branch, "COMPLETED")
    ]
    # The fork's deadline: the fork's own TerminalOrderState settles its wait, nothing runs.
    assert expire(DAY + 11, "terminal_order_state") == ["settled"]
    assert ended(order_id) == sorted(
        [(MAIN_BRANCH, "settled", "superseded by a fork"), (forked.branch, "settled", "TerminalOrderState")]
    )
    assert gateway.CAPTURES == [uuid.UUID(order_id)] and gateway.VOIDS == []


def test_the_forks_own_review_deadline_declines_and_voids_the_fork_once(demo_data, gateway):
    order_id = reviewed_order()
    with at(10):
        forked, _ = fork(order_id, "PaymentOutcome")

    assert expire(DAY + 9, "terminal_order_state") == []
    assert expire(DAY + 11, "terminal_order_state") == ["expired"]

    assert gateway.VOIDS == [uuid.UUID(order_id)] and gateway.CAPTURES == []
    resolved = PaymentReviewResolved.objects.filter(order_id=order_id).values_list("branch", "approved", "resolved_by")
    assert list(resolved) == [(forked.branch, False, "deadline")]
    assert AuthorizationVoided.objects.filter(order_id=order_id).count() == 1
    assert services.get_order(order_id)["state"] == "PAYMENT_FAILED"
    assert ended(order_id) == sorted(
        [(MAIN_BRANCH, "settled", "superseded by a fork"), (forked.branch, "expired", "payment-review-expiry")]
    )
    assert OpenWait.objects.filter(trace_id=order_id).count() == 0


def test_a_decision_on_the_parents_branch_after_the_fork_does_not_settle_the_forks_review(demo_data, gateway):
    """A node of the release before, still serving while the release rolls out, resolves a review on the capture's
    own branch: its decline reaches the parent after the fork. The fork's wait is settled only by what happens on
    its own branch: its deadline still declines the fork, which the order shows."""
    order_id = reviewed_order()
    with at(10):
        forked, _ = fork(order_id, "PaymentOutcome")
    with at(20):
        outcome = PaymentOutcome.objects.get(order_id=order_id)
        engine().run("resolve-payment-review", outcome, event={"approved": False, "by": "ops:erin"})
    assert services.get_order(order_id)["state"] == "REVIEW_REQUIRED"
    review = checkout_composition.ORDER_FINALIZATION.step("terminal_order_state").deadline
    assert review is not None
    live = deadlines.live("order-finalization", "terminal_order_state", review)
    assert [(str(w.trace_id), w.wait_id) for w in live] == [
        (order_id, WaitOpened.objects.get(trace_id=order_id, branch=forked.branch).pk)
    ]

    assert expire(DAY + 11, "terminal_order_state") == ["expired"]

    resolved = PaymentReviewResolved.objects.filter(order_id=order_id).values_list("branch", "resolved_by")
    assert sorted(resolved) == sorted([(MAIN_BRANCH, "ops:erin"), (forked.branch, "deadline")])
    assert services.get_order(order_id)["state"] == "PAYMENT_FAILED"
    assert ended(order_id) == sorted(
        [(MAIN_BRANCH, "settled", "superseded by a fork"), (forked.branch, "expired", "payment-review-expiry")]
    )


def test_a_wait_is_held_by_its_own_branch_and_by_a_fork_from_a_later_checkpoint_of_it(demo_data, gateway):
    """What settles a wait (``settled_by``) is written on a branch that holds it: the fork from the capture holds the
    parent's log up to the capture, not after it; the parent holds nothing of the fork's."""
    order_id = reviewed_order()
    with at(10):
        forked, _ = fork(order_id, "PaymentOutcome")
    trace = uuid.UUID(order_id)
    seq = forked.from_seq

    assert branches.holds(trace, forked.branch, MAIN_BRANCH, seq) is True
    assert branches.holds(trace, forked.branch, MAIN_BRANCH, seq + 1) is False
    assert branches.holds(trace, forked.branch, forked.branch, seq + 1) is True
    assert branches.holds(trace, MAIN_BRANCH, forked.branch, seq) is False


class Killed(BaseException):
    """The process died: nothing after this point of the run happened."""


def killed(*args: object, **kwargs: object) -> None:
    raise Killed


def test_a_parents_review_a_fork_did_not_get_to_end_is_settled_by_its_deadline_as_superseded(
    demo_data, gateway, monkeypatch
):
    """The fork's process died after the fork waited for its review, before it ended what it supersedes (a fork
    made by the release before never did): the parent's deadline finds the fork supersedes its wait and runs
    nothing; the fork's approval then captures against an authorization nobody voided."""
    order_id = reviewed_order()
    with at(10), monkeypatch.context() as patched:
        patched.setattr(forks, "close_superseded", killed)
        with pytest.raises(Killed):
            fork(order_id, "PaymentOutcome")
    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert sorted(open_branches(order_id)) == sorted([MAIN_BRANCH, forked.branch])

    assert expire(DAY + 1, "terminal_order_state") == ["settled"]

    assert gateway.VOIDS == [] and PaymentReviewResolved.objects.filter(order_id=order_id).count() == 0
    assert ended(order_id) == [(MAIN_BRANCH, "settled", "superseded by a fork")]
    with at(DAY + 5):
        shown = ops_actions.preview("resolve-payment-review", order_id, approved=True)
        after = ops_actions.execute(
            "resolve-payment-review", order_id, expected_seq=shown["expectedSeq"], approved=True, **WHO
        )
    assert after["state"] == "COMPLETED"
    assert gateway.CAPTURES == [uuid.UUID(order_id)] and gateway.VOIDS == []


def test_a_parents_review_a_fork_did_not_get_to_end_is_not_listed_live(demo_data, gateway, monkeypatch):
    """The dashboard's and the bulk selection's waits listed the parent's review beside the fork's until its
    deadline ended it: an operator could pick it and decide a branch the order no longer shows."""
    order_id = reviewed_order()
    with at(10), monkeypatch.context() as patched:
        patched.setattr(forks, "close_superseded", killed)
        with pytest.raises(Killed):
            fork(order_id, "PaymentOutcome")
    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert sorted(open_branches(order_id)) == sorted([MAIN_BRANCH, forked.branch])
    review = checkout_composition.ORDER_FINALIZATION.step("terminal_order_state").deadline
    assert review is not None

    live = deadlines.live("order-finalization", "terminal_order_state", review)

    assert [w.wait_id for w in live] == [WaitOpened.objects.get(trace_id=order_id, branch=forked.branch).pk]
    assert sorted(open_branches(order_id)) == sorted([MAIN_BRANCH, forked.branch])  # a read: nothing ended


# -- a fork from the ticket the restaurant has not decided -----------------------------------------------------
def waiting_ticket() -> dict[str, Any]:
    with at(0):
        view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    return view


def decisions(order_id: str) -> list[tuple[str, str]]:
    return sorted(AcceptanceDecision.objects.filter(order_id=order_id).values_list("branch", "decided_by"))


def test_the_parents_acceptance_deadline_no_longer_times_out_the_restaurant_a_fork_waits_for(demo_data, gateway):
    view = waiting_ticket()
    order_id = view["orderId"]
    with at(10):
        forked, shown = fork(order_id, "TicketCreated")
    assert [row["summary"] for row in shown["inserts"] if row["type"] == "WaitEnded"] == [
        "settled: restaurant-acceptance/acceptance_decision on branch main, superseded by a fork"
    ]

    assert expire(31, "acceptance_decision") == []  # the parent's deadline: its wait ended at the fork
    assert decisions(order_id) == []
    assert gateway.VOIDS == []
    with at(35):
        after = services.accept_ticket(view["kitchenTicketId"])

    assert after["state"] == "COMPLETED"
    assert decisions(order_id) == [(forked.branch, "ACCEPTED")]
    assert gateway.VOIDS == []
    assert TicketCreated.objects.filter(order_id=order_id).count() == 1
    assert ended(order_id) == sorted(
        [(MAIN_BRANCH, "settled", "superseded by a fork"), (forked.branch, "resolved", "")]
    )


def test_the_forks_own_acceptance_deadline_times_out_the_fork(demo_data, gateway):
    view = waiting_ticket()
    order_id = view["orderId"]
    with at(10):
        forked, _ = fork(order_id, "TicketCreated")

    assert expire(39, "acceptance_decision") == []
    assert expire(41, "acceptance_decision") == ["expired"]

    assert decisions(order_id) == [(forked.branch, "TIMED_OUT")]
    assert services.get_order(order_id)["state"] == "CANCELLED"
    assert ended(order_id) == sorted(
        [(MAIN_BRANCH, "settled", "superseded by a fork"), (forked.branch, "expired", "restaurant-acceptance")]
    )


def test_a_cancellation_decided_on_a_fork_from_a_later_checkpoint_settles_the_parents_acceptance_wait(
    demo_data, gateway, settings
):
    """The order waits for the restaurant; its cancellation was cut after its request, and ops forked from the
    request: the fork cancels the order on its branch. The fork's view holds the parent's ticket, so its
    ``OrderCancelled`` settles the parent's acceptance wait: the restaurant's deadline runs nothing, and no time-out
    voids the payment a second time on a branch the order no longer shows."""
    view = waiting_ticket()
    order_id = view["orderId"]
    settings.TPFGO_COMPOSITION = "tests.checkout.test_recovery.STOPS_AFTER_CANCELLATION_REQUEST"
    with at(5), pytest.raises(services.Unavailable, match="recorded but not decided yet"):
        services.cancel_order(order_id)
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    with at(10):
        forked, shown = fork(order_id, "CancellationRequested")
    assert [row["summary"] for row in shown["inserts"] if row["type"] == "WaitEnded"] == []  # not superseded
    assert services.get_order(order_id)["state"] == "CANCELLED"
    assert gateway.VOIDS == [uuid.UUID(order_id)]
    assert open_branches(order_id) == [MAIN_BRANCH]

    assert expire(31, "acceptance_decision") == ["settled"]

    assert ended(order_id) == [(MAIN_BRANCH, "settled", "OrderCancelled")]
    assert gateway.VOIDS == [uuid.UUID(order_id)]
    assert decisions(order_id) == [(forked.branch, "CANCELLED")]  # the claim the fork won: no time-out on main
    assert services.get_order(order_id)["state"] == "CANCELLED"
