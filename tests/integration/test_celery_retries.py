"""A real Celery worker on Redis retries parked items: flaky gateway, dead gateway, no courier, lost broker."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from checkout import services
from checkout.models import Courier
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import MAIN_BRANCH, ErrorSinkEntry, ParkedItem, ParkingOutcome, RetryClaim, RetryScheduled
from tests.checkout import recording_gateway
from tests.checkout.conftest import checkpoint_types, place
from tests.checkout.facts import completed_order_facts
from tests.checkout.test_fork_retry import fork_from_verification
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HAPPY = completed_order_facts()  # one order line


def completed_and_resolved(order_id: str) -> bool:
    """The order completed and the attempt that took it there recorded its parked item's outcome: the worker writes
    the outcome after the run it made, so just after the order completes."""
    return state(order_id) == "COMPLETED" and ParkingOutcome.objects.filter(parked__trace_id=order_id).exists()


def state(order_id: str) -> str:
    return services.get_order(order_id)["state"]


def session_users(polls: int = 50) -> set[str]:
    """The roles of the other sessions on the test database seen in ``polls`` quick looks (a worker's sessions
    last one task or sweep)."""
    users: set[str] = set()
    with connection.cursor() as cursor:
        for _ in range(polls):
            cursor.execute(
                "SELECT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            users.update(row[0] for row in cursor.fetchall())
    return users


def test_a_flaky_gateway_parks_retries_twice_and_completes(demo_data, start_worker, pg_roles):
    worker = start_worker()
    view = place(paymentToken="tok_flaky_2").view
    order_id = view["orderId"]
    assert view["stalled"]["step"] == "payment_authorized" and not view["stalled"]["deadLettered"]

    wait_for(lambda: completed_and_resolved(order_id), what="the order to complete", worker=worker)

    assert checkpoint_types(order_id) == HAPPY
    entries = ErrorSinkEntry.objects.filter(trace_id=order_id).order_by("attempt")
    assert [(e.step, e.attempt, e.error_code) for e in entries] == [
        ("payment_authorized", 1, "PAYMENT_GATEWAY_UNAVAILABLE"),
        ("payment_authorized", 2, "PAYMENT_GATEWAY_UNAVAILABLE"),
    ]
    assert sorted(RetryClaim.objects.values_list("attempt", flat=True)) == [2, 3]
    outcome = ParkingOutcome.objects.get()
    assert (outcome.outcome, outcome.attempts) == ("resolved", 3)
    assert services.get_order(order_id)["stalled"] is None
    # The worker's sessions (one per task and sweep, closed after it) are the serving role's.
    wait_for(lambda: pg_roles.app in session_users(), what="a session of the serving role", worker=worker)


def test_the_worker_retries_a_forks_failed_first_step_on_the_fork_and_the_orders_view_moves(
    demo_data, start_worker, settings
):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.OutageGateway"  # this process's gateway
    worker = start_worker()
    order_id = place().view["orderId"]
    recording_gateway.OUTAGE["authorizations"] = 1  # the fork's authorization, here; the worker's simulator answers
    try:
        forked = fork_from_verification(order_id)
    finally:
        recording_gateway.OUTAGE["authorizations"] = 0
    parked = ParkedItem.objects.get(trace_id=order_id)
    # Parked on the fork; the worker may already have retried it (its delays are milliseconds), so no state here.
    assert (parked.step, parked.branch) == ("payment_authorized", forked.branch)

    wait_for(lambda: completed_and_resolved(order_id), what="the fork to complete", worker=worker)

    terminal = set(TerminalOrderState.objects.filter(order_id=order_id).values_list("branch", flat=True))
    assert terminal == {MAIN_BRANCH, forked.branch}
    assert list(ParkingOutcome.objects.values_list("parked", "outcome", "attempts")) == [(parked.pk, "resolved", 2)]
    assert list(RetryClaim.objects.values_list("attempt", flat=True)) == [2]


def test_a_dead_gateway_ends_in_exactly_one_dead_letter(demo_data, start_worker):
    worker = start_worker()
    order_id = place(paymentToken="tok_down").view["orderId"]

    stalled = wait_for(
        lambda: (s := services.get_order(order_id)["stalled"]) and s["deadLettered"] and s,
        what="the dead letter",
        worker=worker,
    )
    sweeps = worker.output().count("pipelines.sweep[")
    wait_for(lambda: worker.output().count("pipelines.sweep[") >= sweeps + 4, what="two more sweeps", worker=worker)

    assert (stalled["step"], stalled["attempts"], stalled["errorClass"]) == (
        "payment_authorized",
        4,
        "checkout.payments.GatewayUnavailable",
    )
    dead = ParkingOutcome.objects.get()
    assert (dead.outcome, dead.reason, dead.attempts) == ("dead_lettered", "retry_exhausted", 4)
    assert "GatewayUnavailable" in dead.last_error
    assert ErrorSinkEntry.objects.count() == 4 and RetryClaim.objects.count() == 3
    assert checkpoint_types(order_id)["PaymentAuthorized"] == 0
    assert state(order_id) == "APPROVAL_PENDING"


def test_no_courier_parks_dispatch_until_one_is_available(demo_data, start_worker):
    worker = start_worker()
    Courier.objects.update(available=False)
    order_id = place().view["orderId"]
    wait_for(
        lambda: ErrorSinkEntry.objects.filter(step="delivery_assigned").count() >= 3,
        what="dispatch to be retried",
        worker=worker,
    )
    assert state(order_id) == "READY_FOR_DISPATCH"

    Courier.objects.filter(pk="courier-ben").update(available=True)

    wait_for(lambda: completed_and_resolved(order_id), what="the order to complete", worker=worker)
    assert checkpoint_types(order_id) == HAPPY
    assert services.get_order(order_id)["courierId"] == "courier-ben"
    outcome = ParkingOutcome.objects.get()
    assert outcome.outcome == "resolved"
    assert {e.error_code for e in ErrorSinkEntry.objects.all()} == {"NO_COURIER_AVAILABLE"}


def test_the_sweeper_reenqueues_retries_whose_broker_messages_were_lost(demo_data, broker, start_worker):
    orders = [place(paymentToken="tok_flaky_1").view["orderId"] for _ in range(3)]
    assert broker.llen("celery") == 3  # the retries were enqueued on commit
    broker.flushdb()  # Redis restarted without persistence: every message is gone, the database still knows
    assert RetryScheduled.objects.count() == 3 and RetryClaim.objects.count() == 0

    worker = start_worker()

    for order_id in orders:
        wait_for(lambda o=order_id: state(o) == "COMPLETED", what="the order to complete", worker=worker)
        assert checkpoint_types(order_id) == HAPPY
    assert RetryClaim.objects.count() == 3
    assert '"reenqueued": ' in worker.output() or "sweep.done" in worker.output()


def test_a_worker_killed_mid_retry_loses_nothing_and_duplicates_nothing(demo_data, start_worker):
    # The worker's pool process SIGKILLs itself right after a retry committed PaymentAuthorized. The worker's main
    # process publishes the task again at once (retry_on_worker_lost); the run again takes up the attempt's claim
    # and replays what the dead run committed. The claim timeout is long: the sweeper never schedules attempt 3.
    worker = start_worker(TPFGO_CRASH_AFTER="payment_authorized", TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS="900")
    order_id = place(paymentToken="tok_flaky_1").view["orderId"]

    wait_for(lambda: completed_and_resolved(order_id), timeout=45, what="the order to complete", worker=worker)

    assert checkpoint_types(order_id) == HAPPY
    assert sorted(RetryClaim.objects.values_list("attempt", flat=True)) == [2]
    assert list(ParkingOutcome.objects.values_list("outcome", "attempts")) == [("resolved", 2)]
    assert worker.output().count("exited with 'signal 9 (SIGKILL)'") == 1
    assert worker.output().count("retry: Retry in 0s: WorkerLostError") == 1  # published again by the main process
    assert uuid.UUID(order_id)
