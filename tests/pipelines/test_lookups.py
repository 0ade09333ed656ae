"""Look-ups with SQL built once give the instances the ORM gives."""

import pytest
from django.db.models import Model

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog
from pipelines.store import lookups, reads
from tests.lane.models import DocumentReceived, DocumentTag, TokenIndexed

pytestmark = pytest.mark.django_db


def same(a: Model, b: Model) -> bool:
    fields = type(a)._meta.concrete_fields
    return all(getattr(a, f.attname) == getattr(b, f.attname) for f in fields) and not a._state.adding


def migrate_text_column(column_type: str) -> None:
    """Another node's migrate, committed: the type of ``DocumentReceived.text`` changes under this connection."""
    from django.db import connection

    other = connection.copy()
    with other.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{DocumentReceived._meta.db_table}" ALTER COLUMN "text" TYPE {column_type}')
    other.close()


# One more document's rows (two tokens of its text), and the counts that grew by them.
ONE_DOCUMENT = {
    "lane.DocumentReceived": 1,
    "lane.TokenIndexed": 2,
    "lane.DocumentIndexed": 1,
    "lane.DocumentPublished": 1,
}


def grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in ONE_DOCUMENT}


def test_rows_match_the_orm_for_equality_ordering_and_limit(lane_engine):
    lane_engine.start("ingest", {"text": "c a b", "tags": ["x", "y"]}, "doc-1")
    lane_engine.start("ingest", {"text": "d"}, "doc-2")
    received = DocumentReceived.objects.get(idempotency_key="doc-1")

    cases = [
        (lookups.rows(TokenIndexed, doc_id=received.doc_id), list(TokenIndexed.objects.filter(doc_id=received.doc_id))),
        (
            lookups.rows(CheckpointLog, order_by=("-seq",), trace_id=received.trace_id),
            list(CheckpointLog.objects.filter(trace_id=received.trace_id).order_by("-seq")),
        ),
        (lookups.rows(DocumentTag, document_id=received.pk), list(DocumentTag.objects.filter(document=received))),
        (
            lookups.rows(TokenIndexed, limit=1, doc_id=received.doc_id),
            list(TokenIndexed.objects.filter(doc_id=received.doc_id)[:1]),
        ),
    ]
    for fast, orm in cases:
        assert len(fast) == len(orm) > 0
        assert [row.pk for row in fast] == [row.pk for row in orm]
        assert all(same(a, b) for a, b in zip(fast, orm, strict=True))
    assert lookups.first(DocumentReceived, pk=received.pk).created_at == received.created_at
    assert lookups.first(DocumentReceived, pk=TokenIndexed.objects.first().pk) is None


def test_only_concrete_columns_can_be_filtered():
    with pytest.raises(ValueError, match="not a concrete column"):
        lookups.rows(DocumentReceived, documenttag=1)  # a reverse relation, not a column


def test_rows_together_give_what_each_look_up_gives_alone(lane_engine):
    lane_engine.start("ingest", {"text": "c a b", "tags": ["x", "y"]}, "doc-1")
    received = DocumentReceived.objects.get(idempotency_key="doc-1")

    tokens, first_token, nothing = lookups.rows_together(
        (TokenIndexed, {"doc_id": received.doc_id}, (), None),
        (TokenIndexed, {"doc_id": received.doc_id}, ("-position",), 1),
        (DocumentReceived, {"pk": TokenIndexed.objects.first().pk}, (), 1),
    )
    alone = lookups.rows(TokenIndexed, doc_id=received.doc_id)
    last = lookups.rows(TokenIndexed, order_by=("-position",), limit=1, doc_id=received.doc_id)
    assert [t.pk for t in tokens] == [t.pk for t in alone] and len(alone) == 3
    assert all(same(a, b) for a, b in zip(tokens, alone, strict=True))
    assert [t.pk for t in first_token] == [last[0].pk] and last[0].position == 2
    assert nothing == []


def test_look_ups_read_along_go_with_the_next_group_or_alone(lane_engine, django_assert_num_queries):
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")
    received = DocumentReceived.objects.get(idempotency_key="doc-1")
    with reads.scope():
        along = lookups.read_along((DocumentReceived, {"pk": received.pk}, (), 1))
        with django_assert_num_queries(2):  # one round trip on PostgreSQL
            (tokens,) = lookups.rows_together((TokenIndexed, {"doc_id": received.doc_id}, (), None))
        with django_assert_num_queries(0):
            assert [row.pk for row in along.rows()[0]] == [received.pk]
        assert len(tokens) == 3

        alone = lookups.read_along((DocumentReceived, {"pk": TokenIndexed.objects.first().pk}, (), 1))
        with django_assert_num_queries(1):
            assert alone.rows() == [[]]
        with django_assert_num_queries(1):  # it left the scope: the next group goes alone
            lookups.rows_together((TokenIndexed, {"doc_id": received.doc_id}, (), None))


@pytest.mark.django_db(transaction=True)
def test_a_look_up_prepared_before_a_migration_changed_its_column_type_still_answers(lane_engine):
    """A node serving while another migrates (a rolling upgrade): the server refuses a statement prepared before a
    column it returns changed type ("cached plan must not change result type"), on every later run. The store drops
    the connection's prepared statements and runs it again, alone and pipelined."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")
    received = DocumentReceived.objects.get(idempotency_key="doc-1")
    together = (
        (DocumentReceived, {"pk": received.pk}, (), None),
        (DocumentTag, {"document_id": received.pk}, (), None),
    )
    assert lookups.first(DocumentReceived, pk=received.pk).text == "c a b"  # prepared on this connection
    assert [len(found) for found in lookups.rows_together(*together)] == [1, 0]

    try:
        migrate_text_column("varchar(300)")
        assert [len(found) for found in lookups.rows_together(*together)] == [1, 0]
        migrate_text_column("text")
        assert lookups.first(DocumentReceived, pk=received.pk).text == "c a b"
        lane_engine.start("ingest", {"text": "d"}, "doc-2")
        assert DocumentReceived.objects.count() == 2
    finally:
        connection.close()
        migrate_text_column("text")


@pytest.mark.django_db(transaction=True)
def test_a_look_up_prepared_before_a_migration_inside_a_pipelines_transaction_is_redone_not_parked():
    """The same, with the statement run inside a transaction (``TPFGO_ATOMICITY=pipeline``: the replay look-up runs
    in the pipeline's): the error aborts it, and the pipeline is run again once its rollback dropped the prepared
    statements. No error-sink entry, nothing parked, the item's rows written once."""
    from django.db import connection

    from pipelines.engine.runner import Engine
    from pipelines.models import ErrorSinkEntry, ParkedItem
    from tests.conftest import all_insert_only_counts
    from tests.lane import composition as lane

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    engine = Engine(lane.COMPOSITION, atomicity="pipeline")
    engine.start("ingest", {"text": "c a b"}, "doc-1")
    engine.start("ingest", {"text": "c a b"}, "doc-1")  # its replay prepares the look-ups on this connection
    before = all_insert_only_counts()

    try:
        migrate_text_column("varchar(300)")
        replayed = engine.start("ingest", {"text": "c a b"}, "doc-1")
        execution = engine.start("ingest", {"text": "d a"}, "doc-2")
    finally:
        connection.close()
        migrate_text_column("text")
    assert [r.status for r in execution.results] == ["inserted", "inserted", "inserted", "inserted"]
    assert {r.status for r in replayed.results} == {"replayed"}
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert grew(before, all_insert_only_counts()) == ONE_DOCUMENT


@pytest.mark.django_db(transaction=True)
def test_a_look_up_prepared_before_a_migration_inside_a_steps_transaction_is_redone_not_parked(lane_engine):
    """A split step runs in a transaction of its own; its ``process()`` reads through a statement prepared before
    the migration. The step is run again once its transaction rolled back: no error-sink entry, its rows once."""
    from django.db import connection

    from pipelines.models import ErrorSinkEntry, ParkedItem
    from tests.conftest import all_insert_only_counts
    from tests.lane import composition as lane

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    lane.FAILURES["tokenize"] = "reads"
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")  # tokenize prepares its read on this connection
    before = all_insert_only_counts()

    try:
        migrate_text_column("varchar(300)")
        execution = lane_engine.start("ingest", {"text": "d a"}, "doc-2")
    finally:
        connection.close()
        migrate_text_column("text")
    assert [(r.step, r.status) for r in execution.results] == [
        ("receive", "inserted"),
        ("tokenize", "inserted"),
        ("index", "inserted"),
        ("publish", "inserted"),
    ]
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert grew(before, all_insert_only_counts()) == ONE_DOCUMENT


def test_a_pipeline_redone_for_a_stale_plan_counts_its_failed_run_nowhere(lane_engine):
    """``TPFGO_ATOMICITY=pipeline``: a step whose read meets a stale statement fails its pipeline's transaction,
    which is run again. Only the redo's run of that step is counted (``tpfgo_step_runs_total``), as with per-step
    transactions; the runs before it in the first pass count as they ran (docs/operations.md)."""
    from django.db import connection

    from pipelines.models import ErrorSinkEntry, ParkedItem
    from tests.conftest import all_insert_only_counts
    from tests.lane import composition as lane
    from tests.pipelines.test_step_metrics import delta, samples

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    engine = Engine(lane.COMPOSITION, atomicity="pipeline")
    lane.FAILURES["tokenize"] = "reads"
    engine.start("ingest", {"text": "c a b"}, "doc-1")  # tokenize prepares its read on this connection
    before, runs = all_insert_only_counts(), samples("tpfgo_step_runs_total")
    migrate_text_column_in_this_session()

    execution = engine.start("ingest", {"text": "d a"}, "doc-2")
    assert [(r.step, r.status) for r in execution.results] == [
        ("receive", "inserted"),
        ("tokenize", "inserted"),
        ("index", "inserted"),
        ("publish", "inserted"),
    ]
    assert delta(runs, "tpfgo_step_runs_total") == {
        ("ingest", "inserted", "receive"): 2,
        ("ingest", "inserted", "tokenize"): 1,
        ("index", "ingest", "inserted"): 1,
        ("inserted", "publish", "publish"): 1,
    }
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert grew(before, all_insert_only_counts()) == ONE_DOCUMENT


@pytest.mark.django_db(transaction=True)
def test_a_database_error_in_the_replay_look_up_is_parked_like_any_step_failure():
    """The first step's replay look-up cannot read its table (another session holds it locked past this session's
    ``lock_timeout``): the step fails into the error sink and is parked, as a failure in its transaction is, with
    per-step transactions and with ``TPFGO_ATOMICITY=pipeline`` alike; the error does not reach the caller, and
    nothing is written."""
    from django.db import connection

    from pipelines.models import ErrorSinkEntry, ParkedItem
    from tests.lane import composition as lane

    if connection.vendor != "postgresql":
        pytest.skip("a lock held by another session: the PostgreSQL half's")
    other = connection.copy()
    other.ensure_connection()
    other.connection.execute("BEGIN")
    other.connection.execute(f'LOCK TABLE "{DocumentReceived._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        executions = [
            Engine(lane.COMPOSITION, atomicity=atomicity).start("ingest", {"text": "c a b"}, key)
            for atomicity, key in (("step", "doc-1"), ("pipeline", "doc-2"))
        ]
    finally:
        other.connection.execute("ROLLBACK")
        other.close()
        connection.close()
    for execution in executions:
        assert [(r.step, r.status, type(r.error).__name__) for r in execution.results] == [
            ("receive", "failed", "OperationalError")
        ]
    entries = ErrorSinkEntry.objects.all()
    assert [(e.step, e.error_code, "lock timeout" in e.message) for e in entries] == [
        ("receive", "UNEXPECTED", True)
    ] * 2
    assert ParkedItem.objects.count() == 2 and DocumentReceived.objects.count() == 0


def migrate_text_column_in_this_session() -> None:
    """The column changes type under this session's prepared statements while it holds its transaction open (a
    test case's: another session's migrate would wait for its locks). Sent below psycopg, which would otherwise
    see the ``ALTER`` pass and drop its statements itself, as it does not for another node's migrate."""
    from django.db import connection

    table = DocumentReceived._meta.db_table
    altered = connection.connection.pgconn.exec_(
        f'ALTER TABLE "{table}" ALTER COLUMN "text" TYPE varchar(300)'.encode()
    )
    assert altered.command_status == b"ALTER TABLE"


def test_in_a_callers_open_transaction_a_step_redone_for_a_stale_plan_is_not_parked(lane_engine):
    """In a caller's open transaction (a test case's) a step's transaction is a savepoint: its rollback drops the
    connection's prepared statements too (psycopg drops them on any ``ROLLBACK`` it sees pass), so the redo runs."""
    from django.db import connection

    from pipelines.models import ErrorSinkEntry, ParkedItem
    from tests.lane import composition as lane

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    lane.FAILURES["tokenize"] = "reads"
    lane_engine.start("ingest", {"text": "c a b"}, "doc-1")  # tokenize prepares its read on this connection
    migrate_text_column_in_this_session()

    execution = lane_engine.start("ingest", {"text": "d a"}, "doc-2")
    assert [(r.step, r.status) for r in execution.results] == [
        ("receive", "inserted"),
        ("tokenize", "inserted"),
        ("index", "inserted"),
        ("publish", "inserted"),
    ]
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    assert DocumentReceived.objects.count() == 2


def test_in_a_callers_open_transaction_a_stale_replay_look_up_goes_to_the_caller():
    """The replay look-up runs in the caller's transaction itself, outside any savepoint of the engine's: the
    refused statement aborted that transaction, where nothing runs again and nothing can be recorded. ``StalePlan``
    goes to the caller, nothing parked; once the caller rolled back (which drops the statements), the run answers."""
    from django.db import connection, transaction

    from pipelines.models import ErrorSinkEntry, ParkedItem
    from pipelines.store.postgres import StalePlan
    from tests.lane import composition as lane

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL half's")
    engine = Engine(lane.COMPOSITION)
    engine.start("ingest", {"text": "c a b"}, "doc-1")
    engine.start("ingest", {"text": "c a b"}, "doc-1")  # its replay prepares the look-ups on this connection
    migrate_text_column_in_this_session()

    with pytest.raises(StalePlan), transaction.atomic():  # the caller's transaction, rolled back by the error
        engine.start("ingest", {"text": "c a b"}, "doc-1")
    assert ErrorSinkEntry.objects.count() == 0 and ParkedItem.objects.count() == 0
    replayed = engine.start("ingest", {"text": "c a b"}, "doc-1")
    assert [r.status for r in replayed.results] == ["replayed"] * 4
