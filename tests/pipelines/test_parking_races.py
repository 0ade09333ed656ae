"""Two processes failing the same attempt of the same item at once (PostgreSQL, one connection per thread): a hung
worker and a redelivered task, two nodes given the same key. They park it in turn (``parking.deciding``): the
first decides the attempt, the second waits until that commits, then finds it decided and records nothing.

Before, both looked (``parking.decided``) before either had committed: both recorded a decision (two dead letters
of one attempt; or a dead letter and the next attempt, so a dead letter ran again), and of two first failures the
second failed on the parked row's id, raising an IntegrityError to its caller.

The first thread stops right after its look until the test lets it go; the second is seen waiting for a lock in
``pg_stat_activity``, or, before, got past its own look.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from pipelines.failures import parking
from pipelines.models import ErrorSinkEntry, ParkedItem, ParkingOutcome, RetryClaim, RetryScheduled
from pipelines.recovery import retries, sweeper
from tests.checkout.test_fork_deadline_races import Thread, until
from tests.lane import composition as lane

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


class Held:
    """``parking.decided`` with the first call stopped after it looked, until ``go_on`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.looked, self.go_on, self.looked_again = threading.Event(), threading.Event(), threading.Event()
        real = parking.decided

        def decided(*args: Any) -> bool:
            found = real(*args)
            if self.looked.is_set():
                self.looked_again.set()
                return found
            self.looked.set()
            self.go_on.wait(60)
            return found

        monkeypatch.setattr(parking, "decided", decided)


def waiting_for_a_lock() -> bool:
    """Whether another session of this database waits for a lock (an advisory lock, or another's insert)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()"
        )
        return bool(cursor.fetchone()[0])


def race(held: Held, first: Callable[[], Any], second: Callable[[], Any], between: Callable[[], None]) -> list[Any]:
    """``first`` until it looked, then ``between``, then ``second`` until it waits or got past its own look; then
    both to their ends. Their results, in that order."""
    one = Thread(first)
    one.start()
    until(held.looked.is_set)
    between()
    two = Thread(second)
    two.start()
    until(lambda: held.looked_again.is_set() or not two.is_alive() or waiting_for_a_lock())
    held.go_on.set()
    one.join(60)
    two.join(60)
    return [one.result, two.result]


def failing_attempt_2(engine: Any) -> tuple[ParkedItem, Callable[[], Any]]:
    """An item parked after its attempt 1, and a run of its attempt 2 (a worker's, as ``retries`` makes it)."""
    lane.FAILURES["tokenize"] = "bug"
    engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()

    def run() -> Any:
        value = retries.load_value(parked)
        return engine.run(
            "ingest", value, step="tokenize", attempt=2, key=parked.idempotency_key, trace_id=parked.trace_id
        )

    return parked, run


def statuses(results: list[Any]) -> list[str]:
    return [r.first.status if hasattr(r, "first") else repr(r) for r in results]


def test_two_runs_failing_the_same_attempt_at_once_record_one_dead_letter(lane_engine, lane_composition, monkeypatch):
    parked, run = failing_attempt_2(lane_engine)
    lane.FAILURES["tokenize"] = "fatal"
    held = Held(monkeypatch)

    results = race(held, run, run, between=lambda: None)

    assert statuses(results) == ["failed", "failed"]
    assert list(ParkingOutcome.objects.values_list("parked", "outcome", "reason", "attempts")) == [
        (parked.pk, "dead_lettered", "non_retryable", 2)
    ]
    assert list(RetryScheduled.objects.values_list("attempt", flat=True)) == [2]
    assert sorted(ErrorSinkEntry.objects.values_list("attempt", flat=True)) == [1, 2]
    assert ParkedItem.objects.count() == 1


def test_a_retryable_and_a_fatal_failure_of_one_attempt_at_once_record_the_first_decision_only(
    lane_engine, lane_composition, monkeypatch
):
    """The first run's retryable failure schedules attempt 3; the second's non-retryable one, which waited, adds no
    dead letter, which would leave a dead letter whose next attempt runs anyway."""
    _parked, run = failing_attempt_2(lane_engine)
    held = Held(monkeypatch)

    def now_fatal() -> None:
        lane.FAILURES["tokenize"] = "fatal"

    results = race(held, run, run, between=now_fatal)

    assert statuses(results) == ["failed", "failed"]
    assert ParkingOutcome.objects.count() == 0
    assert sorted(RetryScheduled.objects.values_list("attempt", flat=True)) == [2, 3]
    entries = ErrorSinkEntry.objects.order_by("attempt").values_list("attempt", "error_class")
    assert list(entries) == [(1, "builtins.RuntimeError"), (2, "builtins.RuntimeError")]
    assert ParkedItem.objects.count() == 1


def test_two_first_failures_of_one_item_at_once_park_it_once_and_neither_caller_sees_an_error(
    lane_engine, lane_composition, monkeypatch
):
    """A caller and a node given the same key at once, both failing at the first step: one parked row, one dead
    letter, and each caller gets its failed step (before, the second's insert of the parked row's id failed)."""
    lane.FAILURES["receive"] = "fatal"
    held = Held(monkeypatch)

    def start() -> Any:
        return lane_engine.start("ingest", {"text": "a"}, "doc-1")

    results = race(held, start, start, between=lambda: None)

    assert statuses(results) == ["failed", "failed"]
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.step, parked.item_type) == ("ingest", "receive", "Command")
    assert list(ParkingOutcome.objects.values_list("outcome", "reason", "attempts")) == [
        ("dead_lettered", "non_retryable", 1)
    ]
    assert RetryScheduled.objects.count() == 0
    assert ErrorSinkEntry.objects.count() == 1


def test_a_hung_worker_failing_its_attempt_while_the_sweeper_takes_it_as_lost_leaves_one_dead_letter(
    lane_engine, lane_composition, settings, monkeypatch
):
    """The worker's claim timed out; it was not dead, and fails its last attempt as the sweeper finds it lost. The
    worker's dead letter stands; the sweeper, which waited, finds the attempt decided and adds none."""
    settings.TPFGO_RETRY_ENQUEUE = ""
    settings.TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS = 300
    lane.FAILURES["receive"] = 9
    lane_engine.start("ingest", {"text": "a"}, "doc-1")
    parked = ParkedItem.objects.get()
    RetryClaim.objects.create(parked=parked, attempt=5, worker="w-hung", created_at=timezone.now())
    held = Held(monkeypatch)

    def woke() -> Any:
        value = retries.load_value(parked)
        return lane_engine.run(
            "ingest", value, step="receive", attempt=5, key=parked.idempotency_key, trace_id=parked.trace_id
        )

    def sweep() -> Any:
        return sweeper.sweep(now=timezone.now() + datetime.timedelta(seconds=400))

    worker, swept = race(held, woke, sweep, between=lambda: None)

    assert worker.first.status == "failed"
    assert swept.dead_lettered == [] and swept.rescheduled == []
    dead = ParkingOutcome.objects.get()
    assert (dead.outcome, dead.reason, dead.attempts) == ("dead_lettered", "retry_exhausted", 5)
    assert dead.last_error == "RetryableError: receive dependency unavailable (attempt 5)"  # the worker's
    assert sorted(ErrorSinkEntry.objects.values_list("attempt", "error_code")) == [
        (1, "UNAVAILABLE"),
        (5, "UNAVAILABLE"),
    ]
    assert list(RetryScheduled.objects.values_list("attempt", flat=True)) == [2]
