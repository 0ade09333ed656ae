"""The partitions' upkeep as a Celery worker's roles (PostgreSQL): beat's ``pipelines.ensure_partitions`` and the
orders policy's whole-month drop run on a worker connected as the serving role with the purge role's URL, no
owner's, and get through the owner's functions (``pipelines.store.partition_functions``); the serving role still may
neither run them nor create or drop a table, and the drop refuses a month whose orders were not purged. A month
whose drop fails is logged and counted, and its orders still go by the batched deletes."""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import time_machine
from django.core import checks
from django.db import connection
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from pipelines import tasks, triggers
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, LineageLink, PurgeRecord, Tombstone, Trace
from pipelines.recovery import retention
from pipelines.store import partition_functions, partitions
from pipelines.store.db_roles import connected_as
from tests.conftest import PgRoles, all_insert_only_counts
from tests.lane.models import DocumentPublished
from tests.pipelines.test_partitions import month, partitions_of, place, rows_of
from tests.test_db_roles import attempt

# Months no other test makes (those made here outlive the test's transaction, and are dropped after it).
JAN, FEB, MAR, APR = (datetime.datetime(2033, m, 10, 9, 30, tzinfo=datetime.UTC) for m in (1, 2, 3, 4))
MONTHS = [partitions.month_of(at) for at in (JAN, FEB, MAR, APR)]
REFUSED = "InsufficientPrivilege"


@pytest.fixture
def engine(lane_engine: Engine) -> Engine:
    return lane_engine


@pytest.fixture
def as_worker(pg_roles: PgRoles, settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """This process as a worker that ``bin/node`` started: the serving role's connection, the purge role's URL, no
    owner's; the months made here dropped after."""
    settings.TPFGO_DATABASE_OWNER = None
    settings.TPFGO_DATABASE_PURGE = pg_roles.credentials(pg_roles.purge)
    yield
    with connection.cursor() as cursor:
        for start in MONTHS:
            for table in partitions.tables():
                cursor.execute(f"DROP TABLE IF EXISTS {partitions.name_of(table, start)}")


def serving(pg_roles: PgRoles) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"], user=pg_roles.app, host=settings["HOST"], port=settings["PORT"], autocommit=True
    )


def names() -> set[str]:
    return {p.name for table in partitions.tables() for p in partitions.listed(connection, table)}


@pytest.mark.django_db(transaction=True)
def test_beat_makes_the_months_ahead_on_a_worker_that_has_no_owner_url(as_worker, pg_roles, settings):
    settings.TPFGO_PARTITION_MONTHS_AHEAD = 2
    with connected_as(pg_roles.credentials(pg_roles.app)), time_machine.travel(JAN, tick=False):
        created = tasks.ensure_partitions()

    expected = [partitions.name_of(t, start) for t in partitions.tables() for start in MONTHS[:3]]
    assert created == expected
    assert set(expected) <= names()
    assert triggers.missing(connection) == []  # each new month has its TRUNCATE guard


@pytest.mark.django_db(transaction=True)
def test_the_hourly_purge_drops_a_whole_month_on_a_worker_that_has_no_owner_url(as_worker, pg_roles, engine, settings):
    january, young, counts = two_in_january_one_in_march(engine, settings)

    # What beat's pipelines.purge runs (its cutoff from the database's clock: here from MAR's, as a node would see it)
    with connected_as(pg_roles.credentials(pg_roles.app)):
        outcomes = retention.purge(actor="beat", now=MAR + datetime.timedelta(days=5))

    january_went(outcomes, january, young, counts)
    assert not {partitions.name_of(t, MONTHS[0]) for t in partitions.tables()} & names()  # January went whole
    (record,) = PurgeRecord.objects.all()
    assert record.items == 2 and record.rows["pipelines_checkpointlog"] == 10


Placed = tuple[set[uuid.UUID], uuid.UUID, dict]  # January's trace ids, March's, the rows counted before a purge


def two_in_january_one_in_march(engine: Engine, settings) -> Placed:  # type: ignore[no-untyped-def]
    """The orders policy keeping 30 days, January to March made, two orders placed in January and one in March:
    (January's trace ids, March's, the log, lineage and published rows counted before a purge)."""
    settings.TPFGO_RETENTION_TERMINAL = "tests.pipelines.test_partitions.published"
    settings.TPFGO_RETENTION = {"orders": 30}
    partitions.ensure(now=MAR, since=JAN, months_ahead=0)
    january = {place(engine, "doc-j1", JAN), place(engine, "doc-j2", JAN + datetime.timedelta(days=5))}
    young = place(engine, "doc-m1", MAR)
    return january, young, {model: model.objects.count() for model in (CheckpointLog, LineageLink, DocumentPublished)}


def january_went(outcomes, january, young, counts) -> None:
    """The purge removed exactly January's two orders (10 log rows, 10 lineage links, their tombstones) and kept
    March's."""
    assert {o.policy: o.items for o in outcomes}["orders"] == 2
    assert set(Tombstone.objects.values_list("trace_id", flat=True)) == january
    assert all(rows_of(t) == {"CheckpointLog": 0, "LineageLink": 0} for t in january)
    assert rows_of(young) == {"CheckpointLog": 5, "LineageLink": 5}
    assert CheckpointLog.objects.count() == counts[CheckpointLog] - 10
    assert LineageLink.objects.count() == counts[LineageLink] - 10
    assert DocumentPublished.objects.count() == counts[DocumentPublished] - 2
    assert list(Trace.objects.values_list("trace_id", flat=True)) == [young]


def january_went_in_batches(sqlstate, logs, failures, outcomes, january, young, counts) -> None:
    """January's drop failed with ``sqlstate`` (logged once, counted once; its partitions stay, emptied), and the
    batched deletes still removed exactly its two orders, row by row, with one record of one batch."""
    failed = [e for e in logs if e["event"] == "partitions.drop_failed"]
    assert [(e["month"], e["sqlstate"], e["log_level"]) for e in failed] == [(MONTHS[0].isoformat(), sqlstate, "error")]
    assert REGISTRY.get_sample_value("tpfgo_partition_drop_failures_total") == failures + 1
    assert {partitions.name_of(t, MONTHS[0]) for t in partitions.tables()} <= names()
    january_went(outcomes, january, young, counts)
    (record,) = PurgeRecord.objects.all()
    assert (record.items, record.rows["pipelines_checkpointlog"], record.rows["pipelines_lineagelink"]) == (2, 10, 10)


@pytest.mark.django_db(transaction=True)
def test_a_month_whose_drop_fails_is_logged_and_counted_and_its_orders_still_go_in_batches(
    as_worker, pg_roles, engine, settings
):
    january, young, counts = two_in_january_one_in_march(engine, settings)
    failures = REGISTRY.get_sample_value("tpfgo_partition_drop_failures_total")
    drop = f"ON FUNCTION {partition_functions.SIGNATURES[partition_functions.DROP]}"
    with connection.cursor() as cursor:  # the purge role may lock the month, no longer drop it
        cursor.execute(f"REVOKE EXECUTE {drop} FROM {connection.ops.quote_name(pg_roles.purge)}")
    try:
        with connected_as(pg_roles.credentials(pg_roles.app)), capture_logs() as logs:
            outcomes = retention.purge(actor="beat", now=MAR + datetime.timedelta(days=5))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"GRANT EXECUTE {drop} TO {connection.ops.quote_name(pg_roles.purge)}")

    january_went_in_batches("42501", logs, failures, outcomes, january, young, counts)


@pytest.mark.django_db(transaction=True)
def test_a_month_a_reader_holds_is_skipped_after_the_lock_timeout_and_its_orders_still_go_in_batches(
    as_worker, pg_roles, engine, settings
):
    settings.TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS = 0.2
    january, young, counts = two_in_january_one_in_march(engine, settings)
    failures = REGISTRY.get_sample_value("tpfgo_partition_drop_failures_total")
    answered: list[list[retention.Outcome]] = []

    def hourly_purge() -> None:  # beat's pipelines.purge on a worker, in its own session
        try:
            with connected_as(pg_roles.credentials(pg_roles.app)):
                answered.append(retention.purge(actor="beat", now=MAR + datetime.timedelta(days=5)))
        finally:
            connection.close()

    db = connection.settings_dict
    # A long report in another session: a SELECT on January's partition, its transaction left open (ACCESS SHARE).
    with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]) as reader:
        reader.execute(f"SELECT COUNT(*) FROM {partitions.name_of('pipelines_checkpointlog', MONTHS[0])}").fetchone()
        purge = threading.Thread(target=hourly_purge)
        with capture_logs() as logs:
            purge.start()
            purge.join(60)  # a guard only: the old purge waited for the reader's lock as long as it stayed open
            returned = not purge.is_alive()
            reader.rollback()
            purge.join()

    assert returned
    ((outcomes),) = answered
    january_went_in_batches("55P03", logs, failures, outcomes, january, young, counts)


@pytest.mark.django_db(transaction=True)
def test_the_serving_role_may_neither_run_the_functions_nor_create_or_drop_a_partition(as_worker, pg_roles, engine):
    partitions.ensure(now=JAN, months_ahead=0)
    trace_id = place(engine, "doc-j1", JAN)
    before, had = all_insert_only_counts(), names()
    jan, feb = (partitions.name_of("pipelines_checkpointlog", start) for start in MONTHS[:2])
    with serving(pg_roles) as app:
        answers = [
            attempt(app, f"SELECT tpfgo_partition_create('pipelines_checkpointlog', '{MONTHS[1].isoformat()}')"),
            attempt(app, f"SELECT tpfgo_partition_lock('{MONTHS[0].isoformat()}')"),
            attempt(app, f"SELECT tpfgo_partition_drop('{MONTHS[0].isoformat()}', false)"),
            attempt(
                app,
                f"CREATE TABLE {feb} PARTITION OF pipelines_checkpointlog "
                f"FOR VALUES FROM ('{MONTHS[1].isoformat()}') TO ('{MONTHS[2].isoformat()}')",
            ),
            attempt(app, f"DROP TABLE {jan}"),
            attempt(app, "ALTER TABLE pipelines_checkpointlog DETACH PARTITION pipelines_checkpointlog_default"),
        ]

    assert answers == [REFUSED] * 6
    assert names() == had
    assert all_insert_only_counts() == before
    assert partitions_of(trace_id) == {f"{table}_{month(JAN)}" for table in partitions.tables()}


@pytest.mark.django_db(transaction=True)
def test_the_purge_role_cannot_drop_a_month_whose_orders_stay_or_without_the_purge_flag(as_worker, pg_roles, engine):
    partitions.ensure(now=JAN, months_ahead=0)
    trace_id = place(engine, "doc-j1", JAN)
    before, had = all_insert_only_counts(), names()
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"], user=pg_roles.purge, host=settings["HOST"], port=settings["PORT"], autocommit=True
    ) as purge:
        drop = f"SELECT tpfgo_partition_drop('{MONTHS[0].isoformat()}', false)"
        flagged = "SELECT set_config('tpfgo.purge', 'on', false); "
        answers = [
            attempt(purge, drop),  # no purge flag
            attempt(purge, flagged + drop),  # the month's order is still there
            attempt(purge, f"DROP TABLE {partitions.name_of('pipelines_checkpointlog', MONTHS[0])}"),
            attempt(purge, "SELECT tpfgo_partition_create('pipelines_trace', '2033-02-01T00:00:00+00:00')"),
            attempt(purge, "SELECT tpfgo_partition_create('pipelines_checkpointlog', '2033-02-02T00:00:00+00:00')"),
            attempt(purge, "SELECT tpfgo_partition_create('pipelines_checkpointlog', '2099-01-01T00:00:00+00:00')"),
        ]

    assert answers == ["RestrictViolation", "RestrictViolation", REFUSED, *["InvalidParameterValue"] * 3]
    assert names() == had
    assert all_insert_only_counts() == before
    assert rows_of(trace_id) == {"CheckpointLog": 5, "LineageLink": 5}


@pytest.mark.django_db
def test_setup_db_roles_lets_the_purge_role_alone_run_the_functions(pg_roles):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.role, p.proname, has_function_privilege(r.role, p.oid, 'EXECUTE') FROM pg_proc p, "
            "unnest(ARRAY[%s, %s, 'public']) AS r(role) WHERE p.proname = ANY(%s) ORDER BY 1, 2",
            [pg_roles.app, pg_roles.purge, list(partition_functions.FUNCTIONS)],
        )
        may = {(role, name) for role, name, allowed in cursor.fetchall() if allowed}
    assert may == {(pg_roles.purge, name) for name in partition_functions.FUNCTIONS}


@pytest.mark.django_db
def test_a_missing_or_public_function_fails_the_database_check():
    if connection.vendor != "postgresql":
        assert partition_functions.check(databases=["default"]) == []  # no partitions, no functions: nothing to say
        return
    assert partition_functions.check(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION {partition_functions.SIGNATURES[partition_functions.DROP]}")
        cursor.execute(
            f"GRANT EXECUTE ON FUNCTION {partition_functions.SIGNATURES[partition_functions.LOCK]} TO PUBLIC"
        )

    (error,) = partition_functions.check(databases=["default"])

    assert error.id == "pipelines.E045" and error.level == checks.ERROR
    assert error.msg == (
        "partition functions on default: tpfgo_partition_lock() may be run by PUBLIC; tpfgo_partition_drop() is missing"
    )
    partition_functions.install(connection)
    assert partition_functions.check(databases=["default"]) == []
