"""A database error outside a step's transaction (its replay look-up, its pause check) fails the step like one inside
it: one error-sink entry per failing item and parking, on the single and the batched path; the error never reaches
the caller and nothing is written. A stale prepared statement in an item's own transaction is redone once."""

import contextlib
import dataclasses
from collections.abc import Iterator

import pytest
from django.db import connection

from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import ErrorSinkEntry, ParkedItem, PausedItem
from pipelines.recovery import pausing
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentPublished, DocumentReceived, TokenIndexed
from tests.pipelines.test_lookups import ONE_DOCUMENT, grew, migrate_text_column_in_this_session

pytestmark = pytest.mark.django_db

FOUR_STEPS = [("receive", "inserted"), ("tokenize", "inserted"), ("index", "inserted"), ("publish", "inserted")]


@contextlib.contextmanager
def locked(model: type) -> Iterator[None]:
    """Another session holds ``model``'s table locked past this session's ``lock_timeout``: every statement of this
    session that reads or writes it fails (``canceling statement due to lock timeout``)."""
    if connection.vendor != "postgresql":
        pytest.skip("a lock held by another session: the PostgreSQL half's")
    other = connection.copy()
    other.ensure_connection()
    other.connection.execute("BEGIN")
    other.connection.execute("SET LOCAL lock_timeout = '5s'")  # never waits for this session's test transaction
    other.connection.execute(f'LOCK TABLE "{model._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        yield
    finally:
        other.connection.execute("ROLLBACK")
        other.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def failures(executions) -> list[list[tuple[str, str, str]]]:
    return [[(r.step, r.status, type(r.error).__name__) for r in e.results] for e in executions]


def lock_timeouts() -> list[tuple[str, str, bool]]:
    return sorted((e.step, e.error_code, "lock timeout" in e.message) for e in ErrorSinkEntry.objects.all())


def pause_tokenize() -> None:
    pausing.pause(lane.COMPOSITION, "ingest", "tokenize", actor="ops", reason="tokenizer reworked")


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_a_batchs_replay_look_up_fails_every_item_of_the_batch_into_the_error_sink():
    """The batch's one look-up of the first step's table fails: every item of the batch is failing, each with its
    own error-sink entry and parked item, and the batch's caller gets their results, not the error."""
    with locked(DocumentReceived):
        executions = BatchEngine(lane.COMPOSITION).start_many(
            "ingest", [({"text": "c a b"}, "doc-1"), ({"text": "d"}, "doc-2")]
        )

    assert failures(executions) == [[("receive", "failed", "OperationalError")]] * 2
    assert lock_timeouts() == [("receive", "UNEXPECTED", True)] * 2
    assert sorted(ParkedItem.objects.values_list("idempotency_key", flat=True)) == ["doc-1", "doc-2"]
    assert DocumentReceived.objects.count() == 0


@pytest.mark.django_db(transaction=True)  # the run before reads the holds' table in the test's transaction
def test_a_database_error_in_a_batchs_pause_check_fails_that_item_and_its_batch_mates_go_on(lane_engine):
    """A step is paused; a held item's row cannot be written (the holds' table is locked): that item fails into the
    error sink and is parked (not held), while a batch-mate found stored replays its whole chain."""
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")
    pause_tokenize()
    before = all_insert_only_counts()

    with locked(PausedItem):
        executions = BatchEngine(lane.COMPOSITION).start_many(
            "ingest", [({"text": "c a b"}, "doc-1"), ({"text": "d"}, "doc-2")]
        )

    assert [[(r.step, r.status) for r in e.results] for e in executions[:1]] == [
        [("receive", "replayed"), ("tokenize", "replayed"), ("index", "replayed"), ("publish", "replayed")]
    ]
    assert failures(executions[1:]) == [
        [("receive", "inserted", "NoneType"), ("tokenize", "failed", "OperationalError")]
    ]
    assert lock_timeouts() == [("tokenize", "UNEXPECTED", True)]
    parked = ParkedItem.objects.get()
    assert (parked.step, parked.idempotency_key, PausedItem.objects.count()) == ("tokenize", "doc-2", 0)
    grown = {k: n - before[k] for k, n in all_insert_only_counts().items() if n != before[k]}
    assert grown == {  # doc-2's received document, its failure; nothing of its tokenize
        "lane.DocumentReceived": 1,
        "pipelines.Trace": 1,
        "pipelines.CheckpointLog": 1,
        "pipelines.ErrorSinkEntry": 1,
        "pipelines.ParkedItem": 1,
        "pipelines.RetryScheduled": 1,
    }


def test_a_database_error_in_the_pause_check_is_parked_like_any_step_failure():
    """The single path: a paused step's hold cannot write its row; the step fails into the error sink and is parked,
    with per-step transactions and with ``TPFGO_ATOMICITY=pipeline`` (its pipeline rolled back, parked at its first
    step) alike, and nothing of the step is written."""
    pause_tokenize()

    with locked(PausedItem):
        executions = [
            Engine(lane.COMPOSITION, atomicity=atomicity).start("ingest", {"text": "c a b"}, key)
            for atomicity, key in (("step", "doc-1"), ("pipeline", "doc-2"))
        ]

    assert failures(executions) == [
        [("receive", "inserted", "NoneType"), ("tokenize", "failed", "OperationalError")],
        [("tokenize", "failed", "OperationalError")],
    ]
    assert lock_timeouts() == [("tokenize", "UNEXPECTED", True)] * 2
    parked = ParkedItem.objects.order_by("idempotency_key")
    assert [(p.step, p.idempotency_key) for p in parked] == [("tokenize", "doc-1"), ("receive", "doc-2")]
    assert PausedItem.objects.count() == 0 and TokenIndexed.objects.count() == 0
    assert list(DocumentReceived.objects.values_list("idempotency_key", flat=True)) == ["doc-1"]


def test_an_items_transaction_redone_item_by_item_is_run_again_once_for_a_stale_plan(lane_engine):
    """A batch redone item by item (its step read a stale prepared statement) meets one again in an item's own
    transaction: that transaction is run again once, as on the single path, with no error-sink entry."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    migrations = []

    def tokenize(ctx):
        if ctx.input.idempotency_key == "doc-3" and len(migrations) < 2:  # the batch's pass, then doc-3's own
            migrations.append(ctx.input.idempotency_key)
            migrate_text_column_in_this_session()  # rolled back with the transaction it ran in
        return lane.tokenize(ctx)

    composition = dataclasses.replace(
        lane.COMPOSITION,
        pipelines=tuple(
            dataclasses.replace(p, steps=(p.steps[0], dataclasses.replace(p.steps[1], process=tokenize), p.steps[2]))
            if p.name == "ingest"
            else p
            for p in lane.COMPOSITION.pipelines
        ),
    )
    lane.FAILURES["tokenize"] = "reads"  # every tokenize reads a fact through a prepared statement
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")
    before = all_insert_only_counts()

    executions = BatchEngine(composition).start_many("ingest", [({"text": "d a"}, "doc-2"), ({"text": "e"}, "doc-3")])

    assert migrations == ["doc-3", "doc-3"]
    assert [[(r.step, r.status) for r in e.results] for e in executions] == [FOUR_STEPS] * 2
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert grew(before, all_insert_only_counts()) == {name: 2 * n for name, n in ONE_DOCUMENT.items()} | {
        "lane.TokenIndexed": 3
    }
    assert DocumentPublished.objects.count() == 3


def test_in_a_callers_open_transaction_a_batchs_failed_replay_look_up_goes_to_the_caller():
    """As on the single path: the batch's look-up runs in the caller's transaction (a test case's), which the refused
    statement aborted; nothing can be recorded there, so the error goes to the caller and nothing is parked."""
    from django.db import OperationalError, transaction

    with locked(DocumentReceived), pytest.raises(OperationalError), transaction.atomic():
        BatchEngine(lane.COMPOSITION).start_many("ingest", [({"text": "c a b"}, "doc-1")])

    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert DocumentReceived.objects.count() == 0
