"""A pause extends the deadlines of the waits behind it: the wait of the paused step, for the paused input.

The courier pickup's wait (30 minutes here) is the example; time moves with time-machine, never sleeps.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import time_machine
from django.test import override_settings

from checkout import services
from checkout.courier_reassigned.models import CourierReassigned
from checkout.models import Courier
from checkout.order_picked_up.models import OrderPickedUp
from pipelines.contracts.status import Unavailable
from pipelines.engine.registry import composition
from pipelines.models import OpenWait, ParkedItem, PausedItem, StepPause, WaitEnded, WaitExtended
from pipelines.recovery import deadlines, drain, pausing, retries
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2030, 3, 4, 12, 0, tzinfo=datetime.UTC)
PICKUP = ("delivery-execution", "order_picked_up")
ENQUEUED: list[tuple[uuid.UUID, int, datetime.datetime]] = []


def record_enqueue(parked: uuid.UUID, attempt: int, due: datetime.datetime) -> None:
    ENQUEUED.append((parked, attempt, due))


def at(minutes: float) -> Any:
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


def minutes(value: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=value)


def expire(when: float) -> list[tuple[int, str, str]]:
    with at(when):
        return [(f.round, f.outcome, f.ran) for f in deadlines.expire(step=PICKUP[1])]


def pause(when: float, where: tuple[str, str] = PICKUP, **scope: str) -> StepPause:
    with at(when):
        return pausing.pause(composition(), *where, actor="ops:erin", reason="courier app down", **scope)


def resume(when: float, row: StepPause, capture: Any) -> None:
    with at(when), capture(execute=True):  # the resume's on-commit work (the drain's start, the re-arm) runs
        pausing.resume(row.id, actor="ops:erin", reason="courier app back")


@pytest.fixture(autouse=True)
def waiting(demo_data: None) -> Any:
    """Only courier-max (who confirms by hand) is dispatched; courier-ann is there for a reassignment."""
    Courier.objects.filter(completion_mode=Courier.AUTO).update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    ENQUEUED.clear()
    hooks = {"TPFGO_RETRY_ENQUEUE": "tests.checkout.test_paused_deadlines.record_enqueue", "TPFGO_DRAIN_ENQUEUE": ""}
    with override_settings(TPFGO_PICKUP_DEADLINE_MINUTES=30, **hooks):
        yield


def waiting_order() -> dict[str, Any]:
    with at(0):
        view = place().view
    assert view["state"] == "DISPATCHED"
    Courier.objects.filter(id="courier-ann").update(available=True)
    return view


def test_a_wait_whose_step_is_paused_for_40_minutes_fires_at_70_not_30(django_capture_on_commit_callbacks):
    view = waiting_order()
    paused = pause(0)

    assert expire(30.1) == [(1, "extended", "")]
    assert CourierReassigned.objects.count() == 0
    wait = OpenWait.objects.get(trace_id=view["orderId"])
    assert wait.due_at == minutes(60.1)  # still paused: looked at again a period later (or at the resume)
    resume(40, paused, django_capture_on_commit_callbacks)
    assert OpenWait.objects.get(pk=wait.pk).due_at == minutes(70)  # 30 + the 40 minutes the pause lasted

    assert expire(69.9) == []
    assert expire(70.1) == [(1, "expired", "courier-reassignment")]
    assert CourierReassigned.objects.filter(order_id=view["orderId"]).count() == 1
    assert WaitEnded.objects.filter(outcome="expired").count() == 1
    assert WaitExtended.objects.count() == 2


def test_a_resume_brings_a_pushed_wait_back_to_its_deadline_with_the_pause_counted(
    django_capture_on_commit_callbacks,
):
    waiting_order()
    paused = pause(25)
    assert expire(30.1) == [(1, "extended", "")]
    resume(32, paused, django_capture_on_commit_callbacks)  # 7 minutes of pause: due at 37, not at the push (60.1)

    assert expire(36.9) == []
    assert expire(37.1) == [(1, "expired", "courier-reassignment")]
    assert CourierReassigned.objects.count() == 1


def test_a_pause_that_ended_before_the_deadline_still_moves_it():
    waiting_order()
    paused = pause(5)
    with at(12):
        pausing.resume(paused.id, actor="ops:erin", reason="back")

    assert expire(30.1) == [(1, "extended", "")]
    assert OpenWait.objects.get().due_at == minutes(37)
    assert expire(30.2) == []  # two passes count the same pause: one row, nothing fired
    assert WaitExtended.objects.count() == 1
    assert expire(37.1) == [(1, "expired", "courier-reassignment")]


def test_a_pause_of_another_step_or_another_order_does_not_extend_the_wait():
    view = waiting_order()
    pause(0, ("delivery-execution", "order_delivered"))  # the next step of the same pipeline
    pause(0, ("dispatch", "delivery_assigned"))  # the step before it in the chain
    pause(0, key="order", value=str(uuid.uuid4()))  # this step, for another order
    pause(0, key="restaurant", value="sushi-kaiten")  # another restaurant (this order is pizza-roma's)

    assert expire(29.9) == []
    assert expire(30.1) == [(1, "expired", "courier-reassignment")]
    assert CourierReassigned.objects.filter(order_id=view["orderId"]).count() == 1
    assert WaitExtended.objects.count() == 0


def test_a_pause_for_this_order_extends_its_wait():
    view = waiting_order()
    paused = pause(0, key="order", value=view["orderId"])
    with at(10):
        pausing.resume(paused.id, actor="ops:erin", reason="back")

    assert expire(30.1) == [(1, "extended", "")]
    assert expire(40.1) == [(1, "expired", "courier-reassignment")]


def test_a_pickup_held_by_the_pause_is_not_lost_to_the_deadline_and_drains_as_before():
    view = waiting_order()
    paused = pause(0)
    with at(10):
        services.pickup(view["dispatchId"])  # the courier picked up: held at the paused step
    assert OrderPickedUp.objects.count() == 0
    assert PausedItem.objects.count() == 1

    assert expire(30.1) == [(1, "extended", "")]
    with at(40):
        pausing.resume(paused.id, actor="ops:erin", reason="courier app back")  # the drain has not run yet
    # 70 has passed, but the pickup is still held (not released): the deadline leaves it to the drain.
    assert expire(70.1) == [(1, "extended", "")]
    assert CourierReassigned.objects.count() == 0

    assert drain.release(paused.id, minutes(71)) == 1
    assert [retries.run_attempt(parked, attempt) for parked, attempt, _ in ENQUEUED] == ["inserted"]
    assert OrderPickedUp.objects.filter(order_id=view["orderId"]).count() == 1
    assert WaitEnded.objects.get(round=1).outcome == "resolved"
    assert expire(200) == []
    assert CourierReassigned.objects.count() == 0
    assert services.get_order(view["orderId"])["stalled"] is None


def test_an_event_for_an_item_held_without_one_is_refused_not_lost(django_capture_on_commit_callbacks):
    """The order reached the paused pickup step before its courier confirmed: it is held without an event. The
    courier's pickup then cannot join that hold (a hold is one insert-only row): it is refused as UNAVAILABLE,
    nothing is stored, and the pickup sent again after the resume is recorded."""
    paused = pause(0)
    with at(0):
        view = place().view
    held = PausedItem.objects.count()
    parked = ParkedItem.objects.count()
    assert held == 1
    with at(10), pytest.raises(Unavailable) as refused:
        services.pickup(view["dispatchId"])
    assert "send it again after the resume" in refused.value.message
    assert (PausedItem.objects.count(), ParkedItem.objects.count(), OrderPickedUp.objects.count()) == (held, parked, 0)

    resume(40, paused, django_capture_on_commit_callbacks)
    assert drain.release(paused.id, minutes(41)) == 1
    assert [retries.run_attempt(p, attempt) for p, attempt, _ in ENQUEUED] == ["awaiting"]
    with at(42):
        services.pickup(view["dispatchId"])
    assert OrderPickedUp.objects.filter(order_id=view["orderId"]).count() == 1
