"""Ops cancelling an order and the deadline pass firing that order's wait (a payment review's, a restaurant's
acceptance), at once (PostgreSQL, one connection per thread): they take turns on the order's decisions' lock
(``ops_actions.IN_TURN``), as a fork and a deadline do. A deadline that ended its wait's round first runs the
round whole, and ops-cancel, whose preview no longer holds, is refused, storing nothing; an ops-cancel that passed its
stale check first cancels the order whole and ends the wait, and the deadline, which waited its turn, runs nothing.
Never both decided, never voided twice.

Each thread stops at a hook until the test lets it go; a thread waiting its turn is seen in ``pg_locks``. The
deadlines are 0 minutes, so a wait is due as soon as it opens.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.ops_cancellation.models import OpsCancellation
from checkout.order_cancelled.models import OrderCancelled
from checkout.payment_review_resolved.models import PaymentReviewResolved
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.status import FailedPrecondition
from pipelines.models import OpenWait, OpsAction, WaitEnded, WaitOpened
from pipelines.recovery import deadlines
from pipelines.store import clock
from tests.checkout.conftest import place
from tests.checkout.test_fork_deadline_races import Thread, until, waiting_its_turn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WHO = {"actor": "ops:erin", "reason": "the consumer called"}


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    settings.TPFGO_REVIEW_DEADLINE_MINUTES = 0
    settings.TPFGO_ACCEPTANCE_DEADLINE_MINUTES = 0


@dataclass
class Waiting:
    """An order waiting for an outside event: what its deadline's round and ops-cancel each decide."""

    order_id: str
    step: str  # the waiting step
    ran: str  # the pipeline its deadline's round runs
    expired: str  # the order's state once the round ran
    by_deadline: list[str]  # what the round alone decides (``decided``)
    by_ops: list[str]  # what ops-cancel alone decides: an OpsCancellation is "ops"
    ended_by_ops: tuple[str, str]  # the wait's round as ops-cancel ends it: (outcome, detail)
    decided: Callable[[str], list[str]]


def reviewed() -> Waiting:
    view = place(paymentToken="tok_review").view
    assert view["state"] == "REVIEW_REQUIRED"

    def decided(order_id: str) -> list[str]:
        review = PaymentReviewResolved.objects.filter(order_id=order_id).values_list("resolved_by", flat=True)
        return sorted([*review, *("ops" for _ in OpsCancellation.objects.filter(order_id=order_id))])

    return Waiting(
        view["orderId"],
        "terminal_order_state",
        "payment-review-expiry",
        "PAYMENT_FAILED",
        ["deadline"],
        ["ops"],
        (WaitEnded.SETTLED, "the order was cancelled (OPS_CANCELLED)"),
        decided,
    )


def awaiting_acceptance() -> Waiting:
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"

    def decided(order_id: str) -> list[str]:
        rows = AcceptanceDecision.objects.filter(order_id=order_id).values_list("decided_by", flat=True)
        return sorted([*rows, *("ops" for _ in OpsCancellation.objects.filter(order_id=order_id))])

    return Waiting(
        view["orderId"],
        "acceptance_decision",
        "restaurant-acceptance",
        "CANCELLED",
        ["TIMED_OUT"],
        ["CANCELLED", "ops"],
        (WaitEnded.RESOLVED, ""),  # ops' claim of the ticket's decision resumes the waiting step
        decided,
    )


SETUPS = pytest.mark.parametrize("setup", [reviewed, awaiting_acceptance], ids=["review", "acceptance"])


def ended(waiting: Waiting) -> list[tuple[str, str]]:
    wait = WaitOpened.objects.get(trace_id=waiting.order_id, step=waiting.step)
    return list(WaitEnded.objects.filter(wait_id=wait.pk).values_list("outcome", "detail"))


def cancelling(order_id: str) -> Callable[[], Any]:
    """Ops-cancel previewed now, confirmed when called."""
    shown = ops_actions.preview("ops-cancel", order_id)
    assert shown["allowed"], shown["why"]
    return lambda: ops_actions.execute("ops-cancel", order_id, expected_seq=shown["expectedSeq"], **WHO)


@SETUPS
def test_a_deadline_that_expired_its_round_first_runs_it_whole_and_ops_cancel_is_refused(
    demo_data, gateway, monkeypatch, setup
):
    waiting = setup()
    order_id = waiting.order_id
    wait = OpenWait.objects.get(trace_id=order_id)
    confirm = cancelling(order_id)
    expired, go_on = threading.Event(), threading.Event()
    real_guard = deadlines._guard

    @contextlib.contextmanager
    def guard(*args: Any) -> Iterator[None]:  # the deadline ended its round as expired: its pipeline runs next
        expired.set()
        go_on.wait(60)
        with real_guard(*args):
            yield

    monkeypatch.setattr(deadlines, "_guard", guard)
    deadline = Thread(lambda: deadlines.fire(wait, clock.reckoned()))
    deadline.start()
    until(expired.is_set)
    cancel = Thread(confirm)
    cancel.start()
    until(lambda: not cancel.is_alive() or waiting_its_turn(order_id))
    go_on.set()
    deadline.join(60)
    cancel.join(60)

    assert deadline.result.outcome == WaitEnded.EXPIRED
    assert isinstance(cancel.result, FailedPrecondition), cancel.result
    assert "the trace changed since the preview" in str(cancel.result)
    assert OpsAction.objects.filter(trace_id=order_id).count() == 0
    assert OpsCancellation.objects.filter(order_id=order_id).count() == 0
    assert waiting.decided(order_id) == waiting.by_deadline
    assert ended(waiting) == [(WaitEnded.EXPIRED, waiting.ran)]
    assert gateway.VOIDS == [uuid.UUID(order_id)] and gateway.CAPTURES == []
    assert AuthorizationVoided.objects.filter(order_id=order_id).count() == 1
    assert services.get_order(order_id)["state"] == waiting.expired


@SETUPS
def test_an_ops_cancel_that_started_first_cancels_whole_and_the_deadline_that_waited_runs_nothing(
    demo_data, gateway, monkeypatch, setup
):
    waiting = setup()
    order_id = waiting.order_id
    wait = OpenWait.objects.get(trace_id=order_id)
    confirm = cancelling(order_id)
    running, run = threading.Event(), threading.Event()
    real_branch_for = services.branch_for

    def branch_for(awaited: Any) -> Any:  # ops-cancel passed its stale check and planned: its run starts
        if not running.is_set():
            running.set()
            run.wait(60)
        return real_branch_for(awaited)

    monkeypatch.setattr(services, "branch_for", branch_for)
    cancel = Thread(confirm)
    cancel.start()
    until(running.is_set)
    deadline = Thread(lambda: deadlines.fire(wait, clock.reckoned()))
    deadline.start()
    until(lambda: not deadline.is_alive() or waiting_its_turn(order_id))
    run.set()
    cancel.join(60)
    deadline.join(60)

    assert not isinstance(cancel.result, Exception), cancel.result
    assert cancel.result["state"] == "CANCELLED"
    assert deadline.result.outcome == "missed"
    assert OpsAction.objects.filter(trace_id=order_id).count() == 1
    assert waiting.decided(order_id) == waiting.by_ops
    assert ended(waiting) == [waiting.ended_by_ops]
    assert gateway.VOIDS == [uuid.UUID(order_id)] and gateway.CAPTURES == []
    assert AuthorizationVoided.objects.filter(order_id=order_id).count() == 1
    assert OrderCancelled.objects.filter(order_id=order_id).count() == 1
    assert TerminalOrderState.objects.filter(order_id=order_id).count() == 0
    assert not OpenWait.objects.filter(trace_id=order_id).exists()
