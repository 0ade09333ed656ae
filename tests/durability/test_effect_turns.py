"""An external effect's turn (``pg_advisory_lock`` on its output) inside a run durable at the boundary: the lock and
its release ride ahead of statements the run sends anyway, never in a round trip of their own, and no run leaves
one held, whether its effect step succeeded, failed or never needed the lock."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime

import psycopg
import pytest
from django.db import connection

from checkout import demo, services
from checkout.consumer_verified.models import ConsumerVerified
from checkout.payment_authorized.models import PaymentAuthorized
from pipelines.engine.registry import composition, engine
from pipelines.models import ErrorSinkEntry
from pipelines.store import claim_locks
from pipelines.store.store import store
from tests.checkout import recording_gateway
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)

PARKED: list[str] = []


def record_enqueue(parked: object, attempt: int, due: datetime) -> None:
    """The retry hook of these tests: the parked item's retry would leave here; nothing is sent."""
    PARKED.append(str(parked))


@pytest.fixture(autouse=True)
def _postgres(db: None, settings) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the effect's lock is PostgreSQL's advisory lock")
    settings.TPFGO_DURABILITY = "boundary"
    demo.load()


def flights(lines: list[str]) -> list[list[str]]:
    """The statements the client sent, grouped by round trip: each group was sent before the server's next answer
    was read (a libpq trace: ``F`` the client's messages, ``B`` the server's; a statement is a ``Query``, or a
    ``Bind`` named by the ``Parse`` before it, or by its prepared statement's name)."""
    groups: list[list[str]] = []
    parsed, answered = "", True
    for line in lines:
        direction, _, kind, *rest = line.split(None, 3)
        text = rest[0] if rest else ""
        if direction == "B":
            answered = True
            continue
        if kind == "Parse":
            parsed = text
        elif kind in ("Bind", "Query"):
            if answered:
                groups.append([])
                answered = False
            groups[-1].append(text if kind == "Query" else parsed or text)
            parsed = ""
    return groups


def traced(place: Callable[[], object]) -> list[list[str]]:
    connection.ensure_connection()
    raw = connection.connection
    with tempfile.NamedTemporaryFile("w+", suffix=".trace") as trace:
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            place()
        finally:
            raw.pgconn.untrace()
        trace.seek(0)
        return flights(trace.read().splitlines())


def advisory_locks_held() -> int:
    """Advisory locks held by this session now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_an_orders_effect_locks_ride_with_its_statements_and_none_is_left_held():
    services.place_order(order_body(), "turns-warm-up")  # statements prepared, as on a serving node

    sent = traced(lambda: services.place_order(order_body(), "turns"))

    locks = [f for f in sent if any("pg_advisory_lock(" in s for s in f)]
    unlocks = [f for f in sent if any("pg_advisory_unlock(" in s for s in f)]
    # The authorization and the capture take their turn; the third effect step of the happy order (it sends no
    # statement at all) takes none.
    assert len(locks) == 2 and len(unlocks) == 2, sent
    # Each rides with another statement: the lock with the flush before the gateway call, the release with the
    # statement after the step's row. Before, each was a round trip of its own (six per order).
    assert all(len(flight) >= 2 for flight in locks + unlocks), sent
    assert all("tpfgo.durable" in flight[-1] for flight in locks), sent
    assert advisory_locks_held() == 0


def test_a_failed_effect_step_lets_go_of_its_lock_when_the_run_ends(settings):
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.OutageGateway"
    settings.TPFGO_RETRY_ENQUEUE = "tests.durability.test_effect_turns.record_enqueue"
    recording_gateway.OUTAGE["authorizations"] = 1
    PARKED.clear()
    try:
        placed = services.place_order(order_body(), "turns-outage")
    finally:
        recording_gateway.OUTAGE["authorizations"] = 0

    assert placed.view["state"] != "COMPLETED"
    assert len(PARKED) == 1  # the authorization failed and was parked for a retry
    assert advisory_locks_held() == 0


def test_outside_a_run_durable_at_the_boundary_the_lock_is_taken_on_its_own(settings):
    settings.TPFGO_DURABILITY = "commit"
    services.place_order(order_body(), "turns-commit-warm-up")

    sent = traced(lambda: services.place_order(order_body(), "turns-commit"))

    alone = [f for f in sent if len(f) == 1 and "pg_advisory_" in f[0]]
    assert len(alone) == 6, sent  # three effect steps, a lock and a release each, as before
    assert advisory_locks_held() == 0


@pytest.mark.parametrize("durability", ["commit", "boundary"])
def test_an_effect_whose_turn_cannot_be_had_fails_into_the_error_sink_not_to_the_caller(settings, durability):
    """Another session holds the authorization's turn past this session's ``lock_timeout``: the retry's step fails
    into the error sink and is parked again, whether its lock was taken on its own (``commit``) or rode ahead of its
    look-up (``boundary``); before, the lock's own error reached the caller. Nothing is written."""
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.OutageGateway"
    settings.TPFGO_RETRY_ENQUEUE = "tests.durability.test_effect_turns.record_enqueue"
    recording_gateway.OUTAGE["authorizations"] = 1
    try:
        order_id = services.place_order(order_body(), f"turns-held-{durability}").view["orderId"]
    finally:
        recording_gateway.OUTAGE["authorizations"] = 0
    verified = ConsumerVerified.objects.get(order_id=order_id)
    step = composition().pipeline("consumer-validation").steps[1]
    turn = claim_locks.key("effect", store.output_id([verified], verified, step))
    settings.TPFGO_DURABILITY = durability
    other = connection.copy()
    other.ensure_connection()
    other.connection.execute("SELECT pg_advisory_lock(%s)", [turn])
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        execution = engine().run("consumer-validation", verified, step="payment_authorized", attempt=2)
    finally:
        other.close()
        connection.close()
    assert [(r.step, r.status, type(r.error).__name__) for r in execution.results] == [
        ("payment_authorized", "failed", "OperationalError")
    ]
    entries = ErrorSinkEntry.objects.filter(trace_id=order_id, step="payment_authorized").order_by("attempt")
    assert [(e.attempt, e.error_code, "lock timeout" in e.message) for e in entries] == [
        (1, "PAYMENT_GATEWAY_UNAVAILABLE", False),
        (2, "UNEXPECTED", True),
    ]
    assert not PaymentAuthorized.objects.filter(order_id=order_id).exists()
    assert advisory_locks_held() == 0
