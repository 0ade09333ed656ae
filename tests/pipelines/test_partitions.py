"""The log and the lineage carry their trace's creation time; on PostgreSQL they are partitioned by its month.

On every vendor: every row of a trace carries the stored creation time, however late it is written, and a replay
on a later clock inserts nothing. On PostgreSQL: one order's rows share one partition, a month without a partition
loses no insert (the default partition keeps it, ``ensure`` moves it out), retention drops exactly a month whose
orders are all expired and refuses one with an order that is not, and the partitions are guarded like their table.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Sequence

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from pipelines import triggers
from pipelines.contracts.steps import StepStatus
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, LineageLink, PurgeRecord, Tombstone, Trace
from pipelines.recovery import retention
from pipelines.store import partitions
from pipelines.store import purge as purge_rows
from pipelines.triggers import purge_flag
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished

pytestmark = pytest.mark.django_db

# Months far from today's, so the partitions the migration made ahead never cover them.
MARCH, APRIL, MAY, JUNE = (datetime.datetime(2031, m, 10, 9, 30, 0, 250000, tzinfo=datetime.UTC) for m in (3, 4, 5, 6))
LATER = datetime.timedelta(days=40)
PG_ONLY = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions exist on PostgreSQL only")


@pytest.fixture
def engine() -> Iterator[Engine]:
    lane.FAILURES.clear()
    yield Engine(lane.COMPOSITION)
    lane.FAILURES.clear()


def place(engine: Engine, key: str, at: datetime.datetime) -> uuid.UUID:
    with time_machine.travel(at, tick=False):
        execution = engine.start("ingest", {"text": f"{key} words"}, key)
    return execution.results[0].checkpoints[0].trace_id


def rows_of(trace_id: uuid.UUID) -> dict[str, int]:
    return {model.__name__: model.objects.of_trace(trace_id).count() for model in (CheckpointLog, LineageLink)}


def partitions_of(trace_id: uuid.UUID) -> set[str]:
    """The partitions holding the trace's log rows and links (PostgreSQL)."""
    number = Trace.objects.get(trace_id=trace_id).number
    found = set()
    with connection.cursor() as cursor:
        for table in partitions.tables():
            cursor.execute(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE trace_number = %s", [number])
            found |= {row[0] for row in cursor.fetchall()}
    return found


def month(at: datetime.datetime) -> str:
    return f"p{at:%Y_%m}"


def test_every_row_of_a_trace_carries_its_stored_creation_time_however_late_it_is_written(engine):
    lane.FAILURES["publish"] = "await"
    trace_id = place(engine, "doc-1", MARCH)
    with time_machine.travel(MARCH + LATER, tick=False):
        resumed = engine.run("publish", DocumentIndexed.objects.get(), event={"by": "ops"})
    assert resumed.first.status == "inserted"

    assert Trace.objects.get(trace_id=trace_id).created_at == MARCH
    logged = list(CheckpointLog.objects.of_trace(trace_id).order_by("seq"))
    links = list(LineageLink.objects.of_trace(trace_id))
    assert len(logged) == 5 and len(links) == 5
    assert logged[-1].created_at == MARCH + LATER  # written 40 days on...
    assert {row.trace_created_at for row in [*logged, *links]} == {MARCH}  # ...under its trace's time


def test_a_replay_on_a_later_clock_inserts_nothing(engine):
    trace_id = place(engine, "doc-1", MARCH)
    before = all_insert_only_counts()

    with time_machine.travel(MARCH + LATER, tick=False):
        again = engine.start("ingest", {"text": "doc-1 words"}, "doc-1")

    assert [r.status for r in again.results] == [StepStatus.REPLAYED] * 4
    assert all_insert_only_counts() == before
    assert rows_of(trace_id) == {"CheckpointLog": 5, "LineageLink": 5}


def test_there_is_nothing_to_partition_on_sqlite(engine):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite side")
    assert partitions.ensure(now=MARCH) == []
    assert partitions.drop_expired(before=JUNE, expired=expire_all([]), purge=remove_rest) == []


# -- PostgreSQL ------------------------------------------------------------------------------------------------
@PG_ONLY
def test_one_orders_rows_land_in_one_partition_the_month_of_its_trace(engine):
    created = partitions.ensure(now=APRIL, since=MARCH, months_ahead=0)
    assert created == [f"{table}_{month(at)}" for table in partitions.tables() for at in (MARCH, APRIL)]
    lane.FAILURES["publish"] = "await"
    march = place(engine, "doc-march", MARCH)
    april = place(engine, "doc-april", APRIL)
    with time_machine.travel(APRIL + LATER, tick=False):  # the March order's last step, written in May
        engine.run("publish", DocumentIndexed.objects.get(trace_id=march), event={"by": "ops"})

    assert partitions_of(march) == {f"{table}_{month(MARCH)}" for table in partitions.tables()}
    assert partitions_of(april) == {f"{table}_{month(APRIL)}" for table in partitions.tables()}
    assert rows_of(march) == {"CheckpointLog": 5, "LineageLink": 5}


@PG_ONLY
def test_an_insert_into_a_month_without_a_partition_is_kept_and_moved_when_the_partition_comes(engine):
    assert not [
        p for t in partitions.tables() for p in partitions.listed(connection, t) if p.start == month_start(JUNE)
    ]
    trace_id = place(engine, "doc-june", JUNE)
    assert partitions_of(trace_id) == {partitions.default_name(table) for table in partitions.tables()}
    assert rows_of(trace_id) == {"CheckpointLog": 5, "LineageLink": 5}
    before = all_insert_only_counts()

    created = partitions.ensure(now=JUNE, months_ahead=0)

    assert created == [f"{table}_{month(JUNE)}" for table in partitions.tables()]
    assert partitions_of(trace_id) == {f"{table}_{month(JUNE)}" for table in partitions.tables()}
    assert all(partitions.default_rows(connection, table) == 0 for table in partitions.tables())
    assert all_insert_only_counts() == before
    assert partitions.ensure(now=JUNE, months_ahead=0) == []  # idempotent


def month_start(at: datetime.datetime) -> datetime.datetime:
    return partitions.month_of(at)


@PG_ONLY
def test_a_new_partition_is_guarded_like_its_table(engine):
    partitions.ensure(now=MARCH, months_ahead=0)
    place(engine, "doc-1", MARCH)
    assert triggers.missing(connection) == []
    for table in partitions.tables():
        name = f"{table}_{month(MARCH)}"
        for statement in (f"UPDATE {name} SET trace_number = trace_number", f"DELETE FROM {name}", f"TRUNCATE {name}"):
            with pytest.raises(DatabaseError, match="refused on insert-only table"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(statement)
    assert rows_of(Trace.objects.get().trace_id) == {"CheckpointLog": 5, "LineageLink": 5}
    with connection.cursor() as cursor:  # a partition without its truncate guard is reported (pipelines.E005)
        cursor.execute(f"DROP TRIGGER {triggers.PG_TRUNCATE} ON pipelines_lineagelink_{month(MARCH)}")
    assert triggers.missing(connection) == [f"pipelines_lineagelink_{month(MARCH)}"]


def expire_all(seen: list[set[uuid.UUID]]) -> partitions.Expired:
    def expired(traces: Sequence[partitions.TraceRef]) -> list[uuid.UUID]:
        seen.append({t for _, t in traces})
        return [t for _, t in traces]

    return expired


def remove_rest(traces: Sequence[partitions.TraceRef], rows: dict[str, int]) -> dict[str, int]:
    """The retention's part of a month's drop (``pipelines.recovery.retention``, without its record and
    tombstones): the traces' rows outside the log and the lineage, their ``Trace`` rows included."""
    batch = purge_rows.TraceBatch(tuple(n for n, _ in traces), tuple(t for _, t in traces))
    return purge_rows.delete([t for t in purge_rows.trace_targets(batch) if t[0] not in (CheckpointLog, LineageLink)])


@PG_ONLY
def test_retention_drops_a_month_whose_orders_are_all_expired_and_exactly_its_rows(engine):
    partitions.ensure(now=APRIL, since=MARCH, months_ahead=0)
    old = {place(engine, "doc-m1", MARCH), place(engine, "doc-m2", MARCH + datetime.timedelta(days=15))}
    young = place(engine, "doc-a1", APRIL)
    counts = {model: model.objects.count() for model in (CheckpointLog, LineageLink)}
    seen: list[set[uuid.UUID]] = []

    with purge_flag("test", "default"):
        dropped = partitions.drop_expired(before=month_start(APRIL), expired=expire_all(seen), purge=remove_rest)

    assert seen == [old]  # asked about March's orders only: April's month is not over by ``before``
    assert [(d.start, d.partitions, d.traces, d.rows) for d in dropped] == [
        (
            month_start(MARCH),
            tuple(f"{t}_{month(MARCH)}" for t in partitions.tables()),
            2,
            {"pipelines_checkpointlog": 10, "pipelines_lineagelink": 10},
        )
    ]
    assert all(rows_of(t) == {"CheckpointLog": 0, "LineageLink": 0} for t in old)
    assert rows_of(young) == {"CheckpointLog": 5, "LineageLink": 5}
    assert CheckpointLog.objects.count() == counts[CheckpointLog] - 10
    assert LineageLink.objects.count() == counts[LineageLink] - 10
    assert list(Trace.objects.values_list("trace_id", flat=True)) == [young]  # the others went with ``purge``


@PG_ONLY
def test_retention_keeps_a_month_with_one_order_not_expired(engine):
    partitions.ensure(now=MARCH, months_ahead=0)
    keep = place(engine, "doc-m1", MARCH)
    place(engine, "doc-m2", MARCH)
    before = all_insert_only_counts()

    dropped = partitions.drop_expired(
        before=month_start(APRIL), expired=lambda traces: [t for _, t in traces if t != keep], purge=remove_rest
    )

    assert dropped == []
    assert all_insert_only_counts() == before
    assert {p.name for t in partitions.tables() for p in partitions.listed(connection, t)} >= {
        f"{t}_{month(MARCH)}" for t in partitions.tables()
    }


@PG_ONLY
def test_retention_can_detach_instead_of_dropping(engine):
    partitions.ensure(now=MARCH, months_ahead=0)
    trace_id = place(engine, "doc-m1", MARCH)

    with purge_flag("test", "default"):
        dropped = partitions.drop_expired(
            before=month_start(APRIL), expired=expire_all([]), purge=remove_rest, detach=True
        )

    assert [d.detached for d in dropped] == [True]
    assert rows_of(trace_id) == {"CheckpointLog": 0, "LineageLink": 0}
    with connection.cursor() as cursor:  # the month is a table of its own now, kept for an archive
        cursor.execute(f"SELECT COUNT(*) FROM pipelines_checkpointlog_{month(MARCH)}")
        assert cursor.fetchone() == (5,)


@PG_ONLY
def test_the_command_creates_the_months_ahead_and_lists_them(capsys):
    call_command("partitions", "--months", "2")
    out = capsys.readouterr().out
    assert out.endswith("2 month(s) ahead covered\n")
    call_command("partitions", "--list")
    listed = capsys.readouterr().out.splitlines()
    assert "pipelines_checkpointlog_default: DEFAULT, 0 row(s)" in listed
    assert len([line for line in listed if line.startswith("pipelines_lineagelink_p")]) >= 3


# -- retention, wired: whole months dropped, the rest deleted in batches --------------------------------------
def published(trace_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The lane's terminal traces (``TPFGO_RETENTION_TERMINAL`` in these tests): those whose document was
    published."""
    return set(DocumentPublished.objects.filter(trace_id__in=trace_ids).values_list("trace_id", flat=True))


@PG_ONLY
def test_the_purge_drops_a_whole_expired_month_and_deletes_the_rest_in_batches(engine, settings):
    settings.TPFGO_RETENTION_TERMINAL = "tests.pipelines.test_partitions.published"
    settings.TPFGO_RETENTION = {"orders": 30}
    partitions.ensure(now=MAY, since=MARCH, months_ahead=0)
    march = {place(engine, "doc-m1", MARCH), place(engine, "doc-m2", MARCH + datetime.timedelta(days=5))}
    april = place(engine, "doc-a1", APRIL)  # expired too, in a month not over by the cutoff: deleted row by row
    young = place(engine, "doc-y1", MAY)
    counts = {model: model.objects.count() for model in (CheckpointLog, LineageLink, DocumentPublished)}

    (outcome,) = retention.purge(actor="test", policies=["orders"], now=MAY + datetime.timedelta(days=20))

    assert outcome.items == 3
    assert set(Tombstone.objects.values_list("trace_id", flat=True)) == {*march, april}
    assert all(rows_of(t) == {"CheckpointLog": 0, "LineageLink": 0} for t in [*march, april])
    assert rows_of(young) == {"CheckpointLog": 5, "LineageLink": 5}
    assert CheckpointLog.objects.count() == counts[CheckpointLog] - 15
    assert DocumentPublished.objects.count() == counts[DocumentPublished] - 3
    assert list(Trace.objects.values_list("trace_id", flat=True)) == [young]
    names = {p.name for t in partitions.tables() for p in partitions.listed(connection, t)}
    assert not {f"{t}_{month(MARCH)}" for t in partitions.tables()} & names  # March went whole...
    assert {f"{t}_{month(APRIL)}" for t in partitions.tables()} <= names  # ...April's month stays, emptied
    month_record, april_record = PurgeRecord.objects.order_by("created_at")
    assert (month_record.items, april_record.items) == (2, 1)
    assert month_record.rows["pipelines_checkpointlog"] == 10 and month_record.rows["pipelines_lineagelink"] == 10
    assert month_record.rows["lane_documentpublished"] == 2
