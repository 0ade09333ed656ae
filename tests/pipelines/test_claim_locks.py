"""Whether a claim's run is still at its work (``pipelines.store.claim_locks``): a session advisory lock."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from pipelines.store import claim_locks
from tests.conftest import run_still_at

pytestmark = pytest.mark.django_db

WORK = ("attempt", uuid.UUID("00000000-0000-4000-8000-000000000001"), 2)


def test_a_key_is_one_piece_of_work_s_whatever_the_form_of_its_parts():
    assert claim_locks.key(*WORK) == claim_locks.key("attempt", str(WORK[1]), 2)
    assert (
        len({claim_locks.key(*WORK), claim_locks.key("attempt", WORK[1], 3), claim_locks.key("position", *WORK[1:])})
        == 3
    )


@pytest.mark.postgres
def test_the_lock_tells_a_run_still_at_the_work_from_one_that_ended(settings):
    if connection.vendor != "postgresql":
        pytest.skip("claim locks are PostgreSQL advisory locks")
    with claim_locks.working_on(*WORK) as alone:
        assert alone is True
    with run_still_at(*WORK):
        with claim_locks.working_on(*WORK) as alone:
            assert alone is False
    with claim_locks.working_on(*WORK) as alone:  # the other run ended: its lock is free
        assert alone is True
    settings.TPFGO_CLAIM_LOCKS = False  # a pooler in transaction mode: no lock is consulted
    with run_still_at(*WORK), claim_locks.working_on(*WORK) as alone:
        assert alone is None


def test_sqlite_has_no_such_lock():
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite answer")
    with claim_locks.working_on(*WORK) as alone:
        assert alone is None


def _in_turn(order: uuid.UUID, events: list[str], name: str, entered=None, release=None) -> None:
    try:
        with claim_locks.in_turn("decision", order):
            events.append(f"{name} in")
            if entered is not None:
                entered.set()
                release.wait(30)
            events.append(f"{name} out")
    finally:
        connection.close()  # the thread's own session


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locks", [True, False])
def test_in_turn_makes_the_later_one_wait_until_the_first_has_ended(settings, locks):
    settings.TPFGO_CLAIM_LOCKS = locks
    order, events = uuid.uuid4(), []
    entered, release = threading.Event(), threading.Event()
    first = threading.Thread(target=_in_turn, args=(order, events, "first", entered, release))
    first.start()
    assert entered.wait(30)
    second = threading.Thread(target=_in_turn, args=(order, events, "second"))
    second.start()
    second.join(0.5)  # with the lock it cannot have entered, however long this waits
    if locks:
        assert second.is_alive() and events == ["first in"]
    else:  # TPFGO_CLAIM_LOCKS=0: nothing is held
        assert not second.is_alive() and events == ["first in", "second in", "second out"]
    release.set()
    first.join(30)
    second.join(30)
    assert sorted(events) == ["first in", "first out", "second in", "second out"]
    if locks:
        assert events == ["first in", "first out", "second in", "second out"]


@pytest.mark.django_db(transaction=True)
def test_an_ops_actions_lock_and_a_decisions_lock_on_one_trace_nest_in_one_thread_even_in_one_bucket():
    # A trace whose two keys fall in the same one of the 256 buckets (SQLite's file locks share a file per bucket).
    trace = next(
        t
        for t in (uuid.uuid5(uuid.NAMESPACE_OID, str(n)) for n in range(100_000))
        if claim_locks.key("ops-action", t) % 256 == claim_locks.key("decision", t) % 256
    )
    done = []

    def nested() -> None:
        try:
            with claim_locks.exclusive("ops-action", trace) as alone, claim_locks.in_turn("decision", trace):
                done.append(alone)
        finally:
            connection.close()  # the thread's own session

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(10)  # a lock waiting on its own thread's would never end
    assert done == [True]
