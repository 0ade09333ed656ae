"""A fork from a checkpoint that awaits an outside event (the restaurant's answer to its ticket, the courier's pickup
or dropoff) and that event, at once (PostgreSQL, one connection per thread): they take turns on the order's
decisions' lock, as a fork and a deadline do. An event that started first is stored whole on the parent's branch,
and the fork, whose preview no longer holds, is refused; a fork that started first ends the parent's wait, and the
event, which waited its turn, decides the fork's wait. The parent is never decided after the fork passed its stale
check (its chain going on, on a branch the order no longer shows).

Each thread stops at a hook until the test lets it go; a thread waiting its turn is seen in ``pg_locks``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

from checkout import ops_actions, services
from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import Courier
from checkout.order_delivered.models import OrderDelivered
from checkout.order_picked_up.models import OrderPickedUp
from checkout.ticket_created.models import TicketCreated
from pipelines.contracts.status import FailedPrecondition
from pipelines.models import MAIN_BRANCH, ForkedFrom, OpenWait, OpsAction, WaitEnded, WaitOpened
from pipelines.recovery import forks
from tests.checkout.conftest import place
from tests.checkout.test_fork_deadline_races import WHO, Thread, until, waiting_its_turn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


@dataclass
class Waiting:
    """An order waiting for an outside event, the event, and the fork from the checkpoint it waits on."""

    order_id: str
    event: Callable[[], Any]
    confirm: Callable[[], Any]
    decided: type  # the checkpoint the event stores
    step: str  # the waiting step
    after: str  # the order's state once the event ran on the branch it shows


def _waiting(order_id: str, point: type, event: Callable[[], Any], decided: type, step: str, after: str) -> Waiting:
    checkpoint = str(point.objects.get(order_id=order_id).pk)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=checkpoint)
    assert shown["allowed"], shown["why"]

    def confirm() -> Any:
        return ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=checkpoint, **WHO)

    return Waiting(order_id, event, confirm, decided, step, after)


def restaurant() -> Waiting:
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    ticket = view["kitchenTicketId"]
    return _waiting(
        view["orderId"],
        TicketCreated,
        lambda: services.accept_ticket(ticket),
        AcceptanceDecision,
        "acceptance_decision",
        "COMPLETED",
    )


def courier() -> Waiting:
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)  # a courier who reports by hand
    view = place().view
    assert view["state"] == "DISPATCHED"
    dispatch = view["dispatchId"]
    return _waiting(
        view["orderId"],
        DeliveryAssigned,
        lambda: services.pickup(dispatch),
        OrderPickedUp,
        "order_picked_up",
        "PICKED_UP",
    )


def dropoff() -> Waiting:
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    view = place().view
    dispatch = view["dispatchId"]
    assert services.pickup(dispatch)["state"] == "PICKED_UP"
    return _waiting(
        view["orderId"],
        OrderPickedUp,
        lambda: services.dropoff(dispatch),
        OrderDelivered,
        "order_delivered",
        "COMPLETED",
    )


SETUPS = pytest.mark.parametrize("setup", [restaurant, courier, dropoff], ids=["restaurant", "courier", "dropoff"])


def decided(waiting: Waiting) -> list[str]:
    return sorted(waiting.decided.objects.filter(order_id=waiting.order_id).values_list("branch", flat=True))


def ended(waiting: Waiting) -> list[tuple[str, str, str]]:
    branch = dict(WaitOpened.objects.filter(trace_id=waiting.order_id, step=waiting.step).values_list("id", "branch"))
    rows = WaitEnded.objects.filter(wait_id__in=branch).values_list("wait_id", "outcome", "detail")
    return sorted((branch[wait], outcome, detail) for wait, outcome, detail in rows)


@SETUPS
def test_an_event_that_started_first_is_stored_whole_and_the_fork_is_refused(demo_data, monkeypatch, setup):
    waiting = setup()
    order_id = waiting.order_id
    deciding, decide, started = threading.Event(), threading.Event(), threading.Event()
    real_branch_for, real_start = services.branch_for, forks.start

    def branch_for(awaited: Any) -> Any:  # the event has started, before anything is stored
        deciding.set()
        decide.wait(60)
        return real_branch_for(awaited)

    def start(*args: Any, **kwargs: Any) -> Any:  # the fork passed its stale check
        started.set()
        return real_start(*args, **kwargs)

    monkeypatch.setattr(services, "branch_for", branch_for)
    monkeypatch.setattr(forks, "start", start)
    event = Thread(waiting.event)
    event.start()
    until(deciding.is_set)
    fork = Thread(waiting.confirm)
    fork.start()
    until(lambda: started.is_set() or waiting_its_turn(order_id))
    decide.set()
    event.join(60)
    fork.join(60)

    assert event.result["state"] == waiting.after, event.result
    assert isinstance(fork.result, FailedPrecondition), fork.result
    assert "the trace changed since the preview" in str(fork.result)
    assert not started.is_set()  # the fork ran nothing
    assert ForkedFrom.objects.filter(trace_id=order_id).count() == 0
    assert OpsAction.objects.filter(trace_id=order_id).count() == 0
    assert decided(waiting) == [MAIN_BRANCH]
    assert ended(waiting) == [(MAIN_BRANCH, "resolved", "")]
    assert not OpenWait.objects.filter(trace_id=order_id, step=waiting.step).exists()


@SETUPS
def test_a_fork_that_started_first_ends_the_parents_wait_and_the_event_that_waited_decides_the_fork(
    demo_data, monkeypatch, setup
):
    waiting = setup()
    order_id = waiting.order_id
    starting, start_now = threading.Event(), threading.Event()
    real_start = forks.start

    def start(*args: Any, **kwargs: Any) -> Any:  # the fork passed its stale check and holds the order's turn
        starting.set()
        start_now.wait(60)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(forks, "start", start)
    fork = Thread(waiting.confirm)
    fork.start()
    until(starting.is_set)
    event = Thread(waiting.event)
    event.start()
    until(lambda: not event.is_alive() or waiting_its_turn(order_id))
    start_now.set()
    fork.join(60)
    event.join(60)

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert not isinstance(fork.result, Exception), fork.result
    parent = WaitOpened.objects.get(trace_id=order_id, branch=MAIN_BRANCH, step=waiting.step)
    assert OpsAction.objects.get(trace_id=order_id).result["closedWaitIds"] == [str(parent.pk)]
    assert event.result["state"] == waiting.after, event.result
    assert decided(waiting) == [forked.branch]  # the parent is never decided
    assert ended(waiting) == sorted([(MAIN_BRANCH, "settled", forks.SUPERSEDED), (forked.branch, "resolved", "")])
    assert not OpenWait.objects.filter(trace_id=order_id, step=waiting.step).exists()
