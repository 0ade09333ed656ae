"""A fork and the deadline of a wait it supersedes, at once (PostgreSQL, one connection per thread): they take turns
on the order's decisions' lock. A deadline that looked at its wait before the fork started runs its round whole, and
the fork, whose preview no longer holds, is refused; a fork that started first ends the wait, and the deadline,
which waited its turn, runs nothing. The deadline never declines and voids the parent between the fork's first step
and its closing of the parent's wait.

Each thread stops at a hook until the test lets it go; a thread waiting its turn is seen in ``pg_locks``. The review
deadline is 0 minutes, so the wait is due as soon as it opens.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from checkout import ops_actions, services
from checkout.authorization_voided.models import AuthorizationVoided
from checkout.payment_review_resolved.models import PaymentReviewResolved
from pipelines.contracts.status import FailedPrecondition
from pipelines.models import MAIN_BRANCH, CheckpointLog, ForkedFrom, OpenWait, OpsAction, WaitEnded, WaitOpened
from pipelines.recovery import deadlines, forks
from pipelines.store import claim_locks, clock
from tests.checkout.conftest import place

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WHO = {"actor": "ops:erin", "reason": "decide again with the fixed rules"}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


@pytest.fixture
def gateway(gateway, settings):
    settings.TPFGO_REVIEW_DEADLINE_MINUTES = 0
    return gateway


class Thread(threading.Thread):
    """A call in a thread of its own (its own session): its result, or what it raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except Exception as exc:
            self.result = exc
        finally:
            connections.close_all()


def waiting_its_turn(order_id: str) -> bool:
    """Whether a session of this database waits for the order's decisions' lock."""
    key = claim_locks.key("decision", uuid.UUID(order_id)) & 0xFFFFFFFFFFFFFFFF
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = %s AND objid::bigint = %s",
            [key >> 32, key & 0xFFFFFFFF],
        )
        return bool(cursor.fetchone()[0])


def until(done: Callable[[], bool]) -> None:
    for _ in range(6000):  # a minute at most: the hooks' own waits end then too
        if done():
            return
        time.sleep(0.01)
    raise AssertionError("the other thread neither reached its hook nor waited its turn")


def reviewed_order() -> tuple[str, OpenWait]:
    view = place(paymentToken="tok_review").view
    assert view["state"] == "REVIEW_REQUIRED"
    return view["orderId"], OpenWait.objects.get(trace_id=view["orderId"])


def forking(order_id: str) -> Callable[[], Any]:
    """The fork from the capture held for review, previewed now and confirmed when called."""
    checkpoint = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type="PaymentOutcome").checkpoint_id
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(checkpoint))
    assert shown["allowed"], shown["why"]

    def confirm() -> Any:
        return ops_actions.execute(
            "fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(checkpoint), **WHO
        )

    return confirm


def ended(order_id: str) -> list[tuple[str, str, str]]:
    branch = dict(WaitOpened.objects.filter(trace_id=order_id).values_list("id", "branch"))
    rows = WaitEnded.objects.filter(wait_id__in=branch).values_list("wait_id", "outcome", "detail")
    return sorted((branch[wait], outcome, detail) for wait, outcome, detail in rows)


def test_a_deadline_that_looked_first_runs_its_round_whole_and_the_fork_is_refused(demo_data, gateway, monkeypatch):
    order_id, wait = reviewed_order()
    confirm = forking(order_id)
    looked, go_on, closing, close = (threading.Event() for _ in range(4))
    real_supersedes, real_close = forks.supersedes, forks.close_superseded

    def supersedes(opened: WaitOpened) -> bool:  # the deadline has looked at its wait: not superseded yet
        found = real_supersedes(opened)
        looked.set()
        go_on.wait(60)
        return found

    def close_superseded(*args: Any, **kwargs: Any) -> Any:  # the fork ran its first step
        closing.set()
        close.wait(60)
        return real_close(*args, **kwargs)

    monkeypatch.setattr(forks, "supersedes", supersedes)
    monkeypatch.setattr(forks, "close_superseded", close_superseded)
    deadline = Thread(lambda: deadlines.fire(wait, clock.reckoned()))
    deadline.start()
    until(looked.is_set)
    fork = Thread(confirm)
    fork.start()
    until(lambda: closing.is_set() or waiting_its_turn(order_id))
    go_on.set()
    deadline.join(60)
    close.set()
    fork.join(60)

    assert deadline.result.outcome == WaitEnded.EXPIRED
    assert isinstance(fork.result, FailedPrecondition), fork.result
    assert "the trace changed since the preview" in str(fork.result)
    assert not closing.is_set()  # the fork ran nothing
    assert ForkedFrom.objects.filter(trace_id=order_id).count() == 0
    assert OpsAction.objects.filter(trace_id=order_id).count() == 0
    assert gateway.VOIDS == [uuid.UUID(order_id)] and gateway.CAPTURES == []
    assert AuthorizationVoided.objects.filter(order_id=order_id).count() == 1
    resolved = PaymentReviewResolved.objects.filter(order_id=order_id).values_list("branch", "approved", "resolved_by")
    assert list(resolved) == [(MAIN_BRANCH, False, "deadline")]
    assert ended(order_id) == [(MAIN_BRANCH, "expired", "payment-review-expiry")]
    assert services.get_order(order_id)["state"] == "PAYMENT_FAILED"


def test_a_fork_that_started_first_ends_the_wait_and_the_deadline_that_waited_runs_nothing(
    demo_data, gateway, monkeypatch
):
    order_id, wait = reviewed_order()
    confirm = forking(order_id)
    closing, close = threading.Event(), threading.Event()
    real_close = forks.close_superseded

    def close_superseded(*args: Any, **kwargs: Any) -> Any:  # the fork ran its first step
        closing.set()
        close.wait(60)
        return real_close(*args, **kwargs)

    monkeypatch.setattr(forks, "close_superseded", close_superseded)
    fork = Thread(confirm)
    fork.start()
    until(closing.is_set)
    deadline = Thread(lambda: deadlines.fire(wait, clock.reckoned()))
    deadline.start()
    until(lambda: not deadline.is_alive() or waiting_its_turn(order_id))
    close.set()
    fork.join(60)
    deadline.join(60)

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert fork.result["state"] == "REVIEW_REQUIRED"
    action = OpsAction.objects.get(trace_id=order_id)
    assert action.result["closedWaitIds"] == [str(wait.wait_id)]  # the fork ended it, not the deadline
    assert deadline.result.outcome == "missed"
    assert ended(order_id) == [(MAIN_BRANCH, "settled", forks.SUPERSEDED)]
    assert list(OpenWait.objects.filter(trace_id=order_id).values_list("wait_id", flat=True)) == [
        WaitOpened.objects.get(trace_id=order_id, branch=forked.branch).pk
    ]
    assert gateway.VOIDS == [] and gateway.CAPTURES == []
    assert PaymentReviewResolved.objects.filter(order_id=order_id).count() == 0
