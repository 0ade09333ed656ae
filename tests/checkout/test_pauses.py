"""Pausing a step: items reaching it are held (PAUSED), nothing calls the step, and the resume drains them at the
configured rate, each order finishing exactly once."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from checkout import services
from checkout.models import Courier
from checkout.payment_outcome.models import PaymentOutcome
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.status import ServiceError
from pipelines.engine import pauses
from pipelines.engine.registry import composition
from pipelines.models import (
    ErrorSinkEntry,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    RetryClaim,
    RetryScheduled,
    StepPause,
)
from pipelines.recovery import backlog, drain, pausing, retries
from pipelines.store import clock
from tests.checkout import recording_gateway
from tests.checkout.conftest import order_body, place
from tests.conftest import node_clock

pytestmark = pytest.mark.django_db

CAPTURE = ("payment-capture", "payment_outcome")
T0 = datetime.datetime(2030, 1, 7, 12, 0, tzinfo=datetime.UTC)
ENQUEUED: list[tuple[uuid.UUID, int, datetime.datetime]] = []


def record_enqueue(parked: uuid.UUID, attempt: int, due: datetime.datetime) -> None:
    """The retry hook of these tests: remember what the drain handed to the worker, and when it is due."""
    ENQUEUED.append((parked, attempt, due))


@pytest.fixture(autouse=True)
def counting(demo_data: None) -> Any:
    recording_gateway.CAPTURE_CALLS.clear()
    ENQUEUED.clear()
    gateway = "tests.checkout.recording_gateway.CountingGateway"
    enqueue = "tests.checkout.test_pauses.record_enqueue"
    with override_settings(TPFGO_PAYMENT_GATEWAY=gateway, TPFGO_RETRY_ENQUEUE=enqueue):
        yield


def pause_capture(**scope: str) -> StepPause:
    return pausing.pause(composition(), *CAPTURE, actor="ops:erin", reason="gateway times out", **scope)


def held_at_capture() -> list[PausedItem]:
    return list(PausedItem.objects.filter(parked__pipeline=CAPTURE[0], parked__step=CAPTURE[1]).order_by("created_at"))


def run_released() -> list[str]:
    """Run what the drain handed to the worker, in due order, as the worker would."""
    done = [retries.run_attempt(parked, attempt) for parked, attempt, _ in sorted(ENQUEUED, key=lambda e: e[2])]
    ENQUEUED.clear()
    return done


def test_orders_reaching_a_paused_capture_are_held_without_a_gateway_call():
    pause_capture()
    orders = [uuid.UUID(place().view["orderId"]) for _ in range(3)]

    assert recording_gateway.CAPTURE_CALLS == []
    assert PaymentOutcome.objects.count() == 0
    held = held_at_capture()
    assert sorted(h.parked.trace_id for h in held) == sorted(orders)
    assert [h.attempt for h in held] == [1, 1, 1]
    assert ErrorSinkEntry.objects.count() == 0
    assert RetryScheduled.objects.count() == 0 and RetryClaim.objects.count() == 0
    assert ParkingOutcome.objects.count() == 0
    view = services.get_order(orders[0])
    assert view["state"] == "DELIVERED"
    assert view["stalled"]["step"] == "payment_outcome"
    assert view["stalled"]["message"] == "PAUSED: gateway times out"
    assert view["stalled"]["attempts"] == 0
    assert OpsAction.objects.filter(action="pause-step").count() == 1


@override_settings(TPFGO_PAUSE_DRAIN_PER_INTERVAL=2, TPFGO_PAUSE_DRAIN_INTERVAL_SECONDS=10)
def test_the_resume_drains_at_the_configured_rate_and_every_order_completes_once():
    paused = pause_capture()
    orders = [uuid.UUID(place().view["orderId"]) for _ in range(5)]
    with time_machine.travel(T0, tick=False):
        pausing.resume(paused.id, actor="ops:erin", reason="gateway answers again")

    # Two every ten seconds, one every 5 s: a drain run releases what falls due within the next interval, and
    # running it again changes nothing.
    assert drain.release(paused.id, T0) == 2
    assert drain.release(paused.id, T0) == 0
    assert [e[2] for e in ENQUEUED] == [T0, T0 + datetime.timedelta(seconds=5)]
    assert recording_gateway.CAPTURE_CALLS == []  # released, not run: the worker runs each when it is due
    assert run_released() == ["inserted", "inserted"]
    assert drain.progress(paused, T0 + datetime.timedelta(seconds=5)).remaining == 3
    assert drain.release(paused.id, T0 + datetime.timedelta(seconds=9)) == 2
    assert drain.release(paused.id, T0 + datetime.timedelta(seconds=9)) == 0
    # A late run (its task was lost for a while) does not catch up in a burst: it starts again from now.
    assert drain.release(paused.id, T0 + datetime.timedelta(seconds=60)) == 1
    assert [e[2] for e in ENQUEUED] == [T0 + datetime.timedelta(seconds=s) for s in (10, 15, 60)]
    assert run_released() == ["inserted", "inserted", "inserted"]

    assert sorted(recording_gateway.CAPTURE_CALLS) == sorted(orders)  # one capture per order, none twice
    assert TerminalOrderState.objects.filter(order_id__in=orders, outcome="COMPLETED").count() == 5
    assert PaymentOutcome.objects.count() == 5
    assert list(PauseRelease.objects.order_by("slot").values_list("slot", flat=True)) == [0, 1, 2, 3, 4]
    assert set(RetryClaim.objects.values_list("attempt", flat=True)) == {1}  # the held attempt, not a new one
    assert ParkingOutcome.objects.filter(outcome=ParkingOutcome.RESOLVED).count() == 5
    assert ErrorSinkEntry.objects.count() == 0
    final = drain.progress(paused, T0 + datetime.timedelta(seconds=60))
    assert (final.held, final.released, final.drained, final.remaining) == (5, 5, 5, 0)
    assert [services.get_order(o)["stalled"] for o in orders] == [None] * 5


def test_a_pause_for_one_restaurant_holds_only_its_orders():
    pause_capture(key="restaurant", value="sushi-kaiten")
    omakase = [{"menuItemId": "omakase", "quantity": 1}]
    sushi = uuid.UUID(place(restaurant="sushi-kaiten", items=omakase).view["orderId"])
    roma = uuid.UUID(place().view["orderId"])

    assert [h.parked.trace_id for h in held_at_capture()] == [sushi]
    assert recording_gateway.CAPTURE_CALLS == [roma]
    assert services.get_order(roma)["state"] == "COMPLETED"
    assert services.get_order(sushi)["state"] == "DELIVERED"


@pytest.mark.parametrize("form", [str, lambda id: str(id).upper(), lambda id: f"{{{id}}}", lambda id: id.hex])
def test_a_pause_for_one_order_holds_only_that_order(form: Any):
    held = services.order_id_for("one-order-held")
    paused = pause_capture(key="order", value=form(held))  # as an operator may paste it
    assert paused.value == str(held)  # stored as the order key answers it
    other = uuid.UUID(place(key="one-order-free").view["orderId"])
    place(key="one-order-held")

    assert [h.parked.trace_id for h in held_at_capture()] == [held]
    assert recording_gateway.CAPTURE_CALLS == [other]


def test_a_parked_retry_that_reaches_a_paused_step_is_held_before_it_claims_its_attempt():
    Courier.objects.update(available=False)
    order_id = uuid.UUID(place().view["orderId"])
    parked = ParkedItem.objects.get(trace_id=order_id, step="delivery_assigned")
    assert ErrorSinkEntry.objects.filter(trace_id=order_id).count() == 1
    paused = pausing.pause(composition(), "dispatch", "delivery_assigned", actor="ops", reason="dispatch rework")
    runs = {"outcome": "paused", "pipeline": "dispatch", "step": "delivery_assigned"}
    before = REGISTRY.get_sample_value("tpfgo_step_runs_total", runs) or 0.0

    assert retries.run_attempt(parked.pk, 2) == "paused"
    assert retries.run_attempt(parked.pk, 2) == "paused"  # the message came twice: still one hold
    # Each run the pause held counts as the engine counts one it holds (docs/operations.md, "What a pause does").
    assert REGISTRY.get_sample_value("tpfgo_step_runs_total", runs) == before + 2
    assert list(PausedItem.objects.filter(parked=parked).values_list("attempt", flat=True)) == [2]
    assert RetryClaim.objects.filter(parked=parked).count() == 0
    assert ErrorSinkEntry.objects.filter(trace_id=order_id).count() == 1

    Courier.objects.filter(pk="courier-ann").update(available=True)
    pausing.resume(paused.id, actor="ops", reason="done")
    assert drain.release(paused.id) == 1
    assert run_released() == ["inserted"]
    assert list(RetryClaim.objects.filter(parked=parked).values_list("attempt", flat=True)) == [2]
    assert services.get_order(order_id)["state"] == "COMPLETED"


@override_settings(TPFGO_BACKLOG_BOUND=2)
def test_held_items_count_toward_the_backlog_bound_and_admission_refuses_new_orders():
    pause_capture()
    first = place(key="bound-1")
    place(key="bound-2")
    backlog.forget()

    with pytest.raises(ServiceError) as refused:
        services.place_order(order_body(), "bound-3")
    assert refused.value.code == "RESOURCE_EXHAUSTED" and refused.value.http_status == 429
    assert getattr(refused.value, "retry_after", None) == 2.0
    assert services.order_id_for("bound-3") not in set(ParkedItem.objects.values_list("trace_id", flat=True))
    from checkout.order_request.models import OrderRequest

    assert OrderRequest.objects.count() == 2
    again = services.place_order(order_body(), "bound-1")  # a stored order is still answered
    assert again.created is False and again.view["orderId"] == first.view["orderId"]


def test_a_pause_survives_a_restart_it_is_read_back_from_its_row():
    paused = pause_capture()
    pauses._active = pauses._Active()  # a new process: nothing cached
    order_id = uuid.UUID(place().view["orderId"])
    assert [h.pause_id for h in held_at_capture()] == [paused.id]
    assert recording_gateway.CAPTURE_CALLS == []
    assert services.get_order(order_id)["state"] == "DELIVERED"


@pytest.mark.parametrize(
    ("pipeline", "step", "scope", "code"),
    [
        ("payment-capture", "nope", {}, "INVALID_ARGUMENT"),
        ("checkout", "order_request", {}, "INVALID_ARGUMENT"),
        ("payment-capture", "payment_outcome", {"key": "galaxy", "value": "x"}, "INVALID_ARGUMENT"),
        ("payment-capture", "payment_outcome", {"key": "restaurant"}, "INVALID_ARGUMENT"),
        # values no input can have: a pause for them would hold nothing
        ("payment-capture", "payment_outcome", {"key": "order", "value": "4f1c-not-an-id"}, "INVALID_ARGUMENT"),
        ("payment-capture", "payment_outcome", {"key": "restaurant", "value": "Sushi-Kaiten"}, "INVALID_ARGUMENT"),
    ],
)
def test_a_bad_pause_is_refused_and_stores_nothing(pipeline: str, step: str, scope: dict[str, str], code: str):
    with pytest.raises(ServiceError) as refused:
        pausing.pause(composition(), pipeline, step, actor="ops", reason="why", **scope)
    assert refused.value.code == code
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0


def test_pausing_twice_or_resuming_twice_is_refused_without_a_row():
    paused = pause_capture()
    with pytest.raises(ServiceError) as twice:
        pause_capture()
    assert twice.value.code == "FAILED_PRECONDITION"
    with pytest.raises(ServiceError) as no_reason:
        pausing.resume(paused.id, actor="ops", reason=" ")
    assert no_reason.value.code == "INVALID_ARGUMENT"
    pausing.resume(paused.id, actor="ops", reason="ok")
    with pytest.raises(ServiceError) as again:
        pausing.resume(paused.id, actor="ops", reason="ok")
    assert again.value.code == "FAILED_PRECONDITION"
    assert StepPause.objects.count() == 1
    assert list(OpsAction.objects.order_by("created_at").values_list("action", flat=True)) == [
        "pause-step",
        "resume-step",
    ]


def test_the_sweeper_leaves_a_held_attempt_to_the_drain_and_re_enqueues_a_lost_release(settings):
    from pipelines.recovery import sweeper

    settings.TPFGO_RESUME_ENQUEUE = ""  # a resume the sweeper finds runs inline
    settings.TPFGO_SWEEP_GRACE_SECONDS = 60
    Courier.objects.update(available=False)
    order_id = uuid.UUID(place().view["orderId"])
    parked = ParkedItem.objects.get(trace_id=order_id, step="delivery_assigned")
    paused = pausing.pause(composition(), "dispatch", "delivery_assigned", actor="ops", reason="rework")
    assert retries.run_attempt(parked.pk, 2) == "paused"
    ENQUEUED.clear()

    # Attempt 2 is scheduled and unclaimed, long overdue: the drain owns it, the sweeper does not re-enqueue it.
    assert sweeper.sweep(now=timezone.now() + datetime.timedelta(seconds=600)).reenqueued == []
    assert ENQUEUED == []

    Courier.objects.filter(pk="courier-ann").update(available=True)
    pausing.resume(paused.id, actor="ops", reason="done")
    assert drain.release(paused.id) == 1
    released_at = ENQUEUED.pop()[2]
    # Its message was lost: past the grace period, the sweeper hands the released attempt to the worker again.
    assert sweeper.sweep(now=released_at + datetime.timedelta(seconds=30)).reenqueued == []
    assert sweeper.sweep(now=released_at + datetime.timedelta(seconds=61)).reenqueued == [(str(parked.pk), 2)]
    assert run_released() == ["inserted"]
    assert sweeper.sweep(now=released_at + datetime.timedelta(seconds=120)).reenqueued == []
    assert services.get_order(order_id)["state"] == "COMPLETED"


def test_a_resumed_pause_whose_drain_task_was_lost_drains_from_the_sweeper(settings):
    from pipelines.recovery import sweeper

    settings.TPFGO_RESUME_ENQUEUE = ""
    paused = pause_capture()
    place()
    pausing.resume(paused.id, actor="ops", reason="ok")  # tests enqueue no drain task: as if it were lost
    assert ENQUEUED == []
    sweeper.sweep()
    assert len(ENQUEUED) == 1 and PauseRelease.objects.filter(pause=paused).count() == 1
    assert run_released() == ["inserted"]


def test_the_batch_path_holds_items_at_a_paused_step_too():
    from checkout import bulk

    pause_capture()
    answers = bulk.place_orders([(order_body(), f"bulk-paused-{n}") for n in range(3)])
    assert [a.view["state"] for a in answers] == ["DELIVERED"] * 3  # type: ignore[union-attr]
    assert len(held_at_capture()) == 3
    assert recording_gateway.CAPTURE_CALLS == []
    assert ErrorSinkEntry.objects.count() == 0


def test_a_pause_extends_a_deadline_by_the_time_it_held_the_item():
    order_id = services.order_id_for("extension-1")
    window = {"since": T0, "until": T0 + datetime.timedelta(hours=1)}
    with time_machine.travel(T0 + datetime.timedelta(minutes=10), tick=False):
        first = pause_capture()
    with time_machine.travel(T0 + datetime.timedelta(minutes=15), tick=False):
        other = pause_capture(key="order", value=str(order_id))  # overlaps the first: counted once
    with time_machine.travel(T0 + datetime.timedelta(minutes=30), tick=False):
        pausing.resume(first.id, actor="ops", reason="ok")
    with time_machine.travel(T0 + datetime.timedelta(minutes=40), tick=False):
        pausing.resume(other.id, actor="ops", reason="ok")
    with time_machine.travel(T0 + datetime.timedelta(minutes=50), tick=False):
        pausing.pause(composition(), *CAPTURE, key="order", value=str(uuid.uuid4()), actor="ops", reason="another")

    class Delivered:  # the step's input: only its order id matters to the pause keys
        def __init__(self, order: uuid.UUID) -> None:
            self.order_id = order

    held = pauses.extension(composition(), *CAPTURE, Delivered(order_id), **window)
    assert held == datetime.timedelta(minutes=30)  # 10 → 40: the whole-step pause, then this order's own
    elsewhere = pauses.extension(composition(), *CAPTURE, Delivered(uuid.uuid4()), **window)
    assert elsewhere == datetime.timedelta(minutes=20)  # the whole-step pause only
    assert pauses.extension(composition(), "dispatch", "delivery_assigned", Delivered(order_id), **window) == (
        datetime.timedelta(0)
    )


# -- a node whose clock is off: pauses, holds and releases are the database's clock ------------------------------
SECONDS = datetime.timedelta(seconds=5)


def test_a_pause_resumed_on_a_node_whose_clock_is_ahead_drains_at_once():
    paused = pause_capture()
    place()
    with node_clock(15):  # the console's node; before: the drain released nothing until 15 minutes later
        pausing.resume(paused.id, actor="ops:erin", reason="gateway answers again")

    assert drain.release(paused.id) == 1
    [(_, _, due)] = ENQUEUED
    database = clock.now()
    assert database - SECONDS < due <= database
    assert run_released() == ["inserted"]


def test_a_drain_on_a_node_whose_clock_is_ahead_releases_by_the_databases_clock():
    paused = pause_capture()
    place()
    pausing.resume(paused.id, actor="ops:erin", reason="gateway answers again")
    with node_clock(15):  # the worker's node; before: the release was due, and ran, 15 minutes late
        assert drain.release(paused.id) == 1

    database = clock.now()
    assert database - SECONDS < PauseRelease.objects.get().due_at <= database


def test_a_pause_resumed_on_a_node_whose_clock_is_ahead_extends_a_deadline_only_by_the_time_it_held():
    paused = pause_capture()
    with node_clock(15):  # the console's node; before: the pause held 15 minutes longer than it did
        pausing.resume(paused.id, actor="ops:erin", reason="a moment only")

    class Delivered:  # the step's input: only its order id matters to the pause keys
        order_id = uuid.uuid4()

    ten_minutes_on = clock.now() + datetime.timedelta(minutes=10)  # the deadline pass, ten minutes later
    since = paused.created_at - datetime.timedelta(minutes=1)
    held = pauses.extension(composition(), *CAPTURE, Delivered(), since=since, until=ten_minutes_on)
    assert held < SECONDS
