"""A fork of an order waiting for its restaurant and the consumer's cancellation or revision of it, at once
(PostgreSQL, one connection per thread): they take turns on the order's decisions' lock, as a fork and the
restaurant's answer do (``test_fork_acceptance_races``).

A cancellation that started first is decided whole on the branch the order showed (it claims the ticket's decision
and cancels), and the fork, whose preview no longer holds, is refused; a fork that started first ends the parent's
wait, and the cancellation, which waited its turn, decides and cancels the fork. A revision that started first is
decided whole and the fork is refused; one that waited for a fork is refused (a forked order cannot be revised),
storing nothing. Neither is decided on the parent after the fork passed its stale check: a cancellation answered
ACCEPTED, its authorization voided, while the order showed the fork waiting for the restaurant; a revision accepted
and re-authorized while the fork went on with the old lines.

Each thread stops at a hook until the test lets it go; a thread waiting its turn is seen in ``pg_locks``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.order_cancelled.models import OrderCancelled
from checkout.revision_requested.models import RevisionRequested
from checkout.ticket_created.models import TicketCreated
from pipelines.contracts.status import FailedPrecondition
from pipelines.models import MAIN_BRANCH, ForkedFrom, OpenWait, OpsAction, WaitEnded, WaitOpened
from pipelines.recovery import forks
from tests.checkout.conftest import place
from tests.checkout.test_fork_deadline_races import WHO, Thread, until, waiting_its_turn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MOOT = "the order was cancelled (CONSUMER_CANCELLED)"
CREPES = {"items": [{"menuItemId": "crepe", "quantity": 3}]}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


def waiting_order() -> tuple[str, Callable[[], Any]]:
    """An order waiting for its restaurant, and the fork from its ticket, previewed now and confirmed when called."""
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    order_id = view["orderId"]
    ticket = str(TicketCreated.objects.get(order_id=order_id).pk)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=ticket)
    assert shown["allowed"], shown["why"]

    def confirm() -> Any:
        return ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=ticket, **WHO)

    return order_id, confirm


def decisions(order_id: str) -> list[tuple[str, str]]:
    return sorted(AcceptanceDecision.objects.filter(order_id=order_id).values_list("branch", "decided_by"))


def cancelled(order_id: str) -> list[str]:
    return sorted(OrderCancelled.objects.filter(order_id=order_id).values_list("branch", flat=True))


def ended(order_id: str) -> list[tuple[str, str, str]]:
    branch = dict(WaitOpened.objects.filter(trace_id=order_id).values_list("id", "branch"))
    rows = WaitEnded.objects.filter(wait_id__in=branch).values_list("wait_id", "outcome", "detail")
    return sorted((branch[wait], outcome, detail) for wait, outcome, detail in rows)


def open_waits(order_id: str) -> list[str]:
    """The branches of the order's open waits. A cancellation that decides the ticket ends the restaurant's wait on
    the branch it cancelled (``services.end_moot_waits``): ``MOOT``."""
    opened = OpenWait.objects.filter(trace_id=order_id).values_list("wait_id", flat=True)
    return sorted(WaitOpened.objects.filter(pk__in=list(opened)).values_list("branch", flat=True))


def held_at(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[threading.Event, threading.Event]:
    """Stop the request at ``services.<name>`` (after it ran) until the second event is set; the first says it got
    there."""
    there, go_on = threading.Event(), threading.Event()
    real = getattr(services, name)

    def hook(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        there.set()
        go_on.wait(60)
        return found

    monkeypatch.setattr(services, name, hook)
    return there, go_on


def fork_held(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Stop the fork once it passed its stale check and holds the order's turn, before it stored anything."""
    starting, start_now = threading.Event(), threading.Event()
    real_start = forks.start

    def start(*args: Any, **kwargs: Any) -> Any:
        starting.set()
        start_now.wait(60)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(forks, "start", start)
    return starting, start_now


def fork_watched(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the fork passed its stale check (it then runs)."""
    started = threading.Event()
    real_start = forks.start

    def start(*args: Any, **kwargs: Any) -> Any:
        started.set()
        return real_start(*args, **kwargs)

    monkeypatch.setattr(forks, "start", start)
    return started


def race(request: Callable[[], Any], there: threading.Event, fork: Callable[[], Any]) -> tuple[Thread, Thread]:
    """The request first, until it stops at its hook; then the fork."""
    asked = Thread(request)
    asked.start()
    until(there.is_set)
    forking = Thread(fork)
    forking.start()
    return asked, forking


def fork_first(
    monkeypatch: pytest.MonkeyPatch, order_id: str, confirm: Callable[[], Any], request: Callable[[], Any]
) -> tuple[Thread, Thread]:
    """The fork starts and is held; the request starts and waits its turn on the order's lock (or ends); the fork
    goes on. Both threads, ended."""
    starting, start_now = fork_held(monkeypatch)
    fork = Thread(confirm)
    fork.start()
    until(starting.is_set)
    other = Thread(request)
    other.start()
    until(lambda: not other.is_alive() or waiting_its_turn(order_id))
    start_now.set()
    fork.join(60)
    other.join(60)
    return fork, other


def test_a_cancellation_that_started_first_is_decided_whole_and_the_fork_is_refused(demo_data, gateway, monkeypatch):
    order_id, confirm = waiting_order()
    deciding, decide = held_at(monkeypatch, "branch_for")  # the branch it runs on is chosen; nothing stored yet
    started = fork_watched(monkeypatch)

    cancel, fork = race(lambda: services.cancel_order(order_id), deciding, confirm)
    until(lambda: started.is_set() or waiting_its_turn(order_id))
    decide.set()
    cancel.join(60)
    fork.join(60)

    assert cancel.result["cancellation"] == {"outcome": "ACCEPTED", "reason": None}, cancel.result
    assert cancel.result["order"]["state"] == "CANCELLED"
    assert isinstance(fork.result, FailedPrecondition), fork.result
    assert "the trace changed since the preview" in str(fork.result)
    assert not started.is_set()  # the fork ran nothing
    assert ForkedFrom.objects.filter(trace_id=order_id).count() == 0
    assert OpsAction.objects.filter(trace_id=order_id).count() == 0
    assert decisions(order_id) == [(MAIN_BRANCH, "CANCELLED")]
    assert cancelled(order_id) == [MAIN_BRANCH]
    assert ended(order_id) == [(MAIN_BRANCH, "settled", MOOT)]
    assert open_waits(order_id) == []
    assert gateway.VOIDS == [uuid.UUID(order_id)]


def test_a_fork_that_started_first_is_cancelled_by_the_cancellation_that_waited_its_turn(
    demo_data, gateway, monkeypatch
):
    order_id, confirm = waiting_order()
    fork, cancel = fork_first(monkeypatch, order_id, confirm, lambda: services.cancel_order(order_id))

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert not isinstance(fork.result, Exception), fork.result
    parent = WaitOpened.objects.get(trace_id=order_id, branch=MAIN_BRANCH)
    assert OpsAction.objects.get(trace_id=order_id).result["closedWaitIds"] == [str(parent.pk)]
    assert cancel.result["cancellation"] == {"outcome": "ACCEPTED", "reason": None}, cancel.result
    assert cancel.result["order"]["state"] == "CANCELLED"
    assert decisions(order_id) == [(forked.branch, "CANCELLED")]  # the parent is never decided
    assert cancelled(order_id) == [forked.branch]
    assert ended(order_id) == sorted([(MAIN_BRANCH, "settled", forks.SUPERSEDED), (forked.branch, "settled", MOOT)])
    assert open_waits(order_id) == []
    assert gateway.VOIDS == [uuid.UUID(order_id)]  # once, under the key the fork reuses


def test_a_revision_that_started_first_is_decided_whole_and_the_fork_is_refused(demo_data, gateway, monkeypatch):
    order_id, confirm = waiting_order()
    checked, go_on = held_at(monkeypatch, "_not_forked")  # it found the order not forked; nothing stored yet
    started = fork_watched(monkeypatch)

    revise, fork = race(lambda: services.revise_order(order_id, CREPES, "rev-1"), checked, confirm)
    until(lambda: started.is_set() or waiting_its_turn(order_id))
    go_on.set()
    revise.join(60)
    fork.join(60)

    assert revise.result["revision"]["outcome"] == "ACCEPTED", revise.result
    lines = [(line["menuItemId"], line["quantity"]) for line in revise.result["order"]["lines"]]
    assert lines == [("crepe", 3)]
    assert isinstance(fork.result, FailedPrecondition), fork.result
    assert "the trace changed since the preview" in str(fork.result)
    assert not started.is_set()  # the fork ran nothing
    assert ForkedFrom.objects.filter(trace_id=order_id).count() == 0
    assert OpsAction.objects.filter(trace_id=order_id).count() == 0


def test_a_fork_that_started_first_refuses_the_revision_that_waited_its_turn_and_it_stores_nothing(
    demo_data, gateway, monkeypatch
):
    order_id, confirm = waiting_order()
    fork, revise = fork_first(monkeypatch, order_id, confirm, lambda: services.revise_order(order_id, CREPES, "rev-1"))

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert not isinstance(fork.result, Exception), fork.result
    assert isinstance(revise.result, FailedPrecondition), revise.result
    assert "a forked order cannot be revised" in str(revise.result)
    assert RevisionRequested.objects.filter(order_id=order_id).count() == 0
    assert decisions(order_id) == []
    assert ended(order_id) == [(MAIN_BRANCH, "settled", forks.SUPERSEDED)]
    assert open_waits(order_id) == [forked.branch]
    assert gateway.CAPTURES == []
    assert services.get_order(order_id)["state"] == "AWAITING_ACCEPTANCE"
