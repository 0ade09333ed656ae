"""Where a run under ``TPFGO_DURABILITY="boundary"`` flushes the WAL (PostgreSQL): before each gateway call, before a
retry message leaves, and when the run ends; never otherwise, and never under ``"commit"``."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.db import connection, transaction

from checkout import demo, services
from pipelines.store import durability
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)

ENQUEUED: list[int] = []


def record_enqueue(parked: uuid.UUID, attempt: int, due: datetime) -> None:
    """The retry hook of these tests: how many flushes came before the message would leave."""
    ENQUEUED.append(durability.flushes())


@pytest.fixture(autouse=True)
def _postgres(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's; SQLite commits as before")
    demo.load()


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def place(key: str, **extra: str) -> services.Placed:
    return services.place_order(order_body(**extra), key)


def test_a_run_flushes_before_each_gateway_call_and_when_it_ends_and_nothing_else_does(settings):
    settings.TPFGO_DURABILITY = "boundary"
    before = durability.flushes()

    placed = place("durable-flushes")

    assert placed.view["state"] == "COMPLETED"
    assert durability.flushes() - before == 3  # before the authorization, before the capture, at the answer
    assert synchronous_commit() == "on"  # the session commits synchronously again outside a run

    assert place("durable-flushes").created is False  # answered from the stored order: no run, no flush
    settings.TPFGO_DURABILITY = "commit"
    assert place("durable-commit").view["state"] == "COMPLETED"
    assert durability.flushes() - before == 3
    assert synchronous_commit() == "on"


@pytest.mark.django_db  # the test case's own transaction is open around the run, as in most of the suite
def test_nothing_is_relaxed_inside_an_open_transaction(settings):
    settings.TPFGO_DURABILITY = "boundary"
    before = durability.flushes()

    assert place("durable-in-transaction").view["state"] == "COMPLETED"

    assert durability.flushes() == before
    assert synchronous_commit() == "on"


def test_a_retry_message_leaves_only_after_a_flush(settings):
    settings.TPFGO_DURABILITY = "boundary"
    settings.TPFGO_RETRY_ENQUEUE = "tests.durability.test_flushes.record_enqueue"
    ENQUEUED.clear()
    before = durability.flushes()

    place("durable-retry", paymentToken="tok_flaky_1")  # the first authorization fails and is parked

    # flush 1 before the failing gateway call, flush 2 before the retry message, flush 3 when the run ends
    assert ENQUEUED == [before + 2]
    assert durability.flushes() - before == 3


def test_inside_a_step_transaction_durable_waits_for_the_wal_writer(settings):
    settings.TPFGO_DURABILITY = "boundary"
    with durability.relaxed():
        place("durable-before-the-split")  # a nested run: committed asynchronously, not flushed yet
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()")
            written = cursor.fetchone()[0]
        before = durability.flushes()
        with transaction.atomic(durable=True):  # as a split step's transaction: nothing can commit here
            durability.durable()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [written])
                assert cursor.fetchone()[0] is True
        assert durability.flushes() == before + 1
