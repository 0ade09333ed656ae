"""PostgreSQL: the checkpoint log and the lineage, range-partitioned by month of their trace's creation time.

Every ``CheckpointLog`` and ``LineageLink`` row carries ``trace_created_at``, the stored ``Trace.created_at`` of its
trace (``pipelines.store.traces.stamps``), so all the rows of one order sit in one partition, and a month of old
orders can be dropped whole instead of deleted row by row. SQLite has no partitions: the column is there, unused.

Replay safety. PostgreSQL wants the partition key in every unique key of a partitioned table, so the log's primary
key is ``(seq, trace_created_at)`` and the lineage's unique edge ``(trace_number, parent_id, child_id,
trace_created_at)``. Neither loses anything: a trace has one number and one creation time, both written once in
``Trace`` (unpartitioned, ``trace_id`` globally unique) and read back by every later run of the trace, never taken
from the clock at replay; and what keeps a replay from inserting twice is the checkpoint's own id and business key,
unique in the checkpoint tables, which are not partitioned (a log row or a link is written only with its
checkpoint's insert).

Partitions are made ahead (``ensure``: ``manage.py partitions``, and the ``pipelines.ensure_partitions`` beat
task); a row whose month has no partition goes to the table's DEFAULT partition, so a missing partition never loses
an insert. ``ensure`` later moves such rows into the month's new partition (PostgreSQL refuses to create a
partition whose range the default partition holds rows of).

Retention (``drop_expired``) drops or detaches a month only when every order in it is expired, as the caller's
``expired`` judges; otherwise it leaves the month to row-by-row deletes. A month whose drop fails (the database
refuses it: a missing grant, a lock not granted within ``TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS``, the drop's own
guard) rolls back whole, is logged
(``partitions.drop_failed``) and counted (``tpfgo_partition_drop_failures_total``), and is left to the row-by-row
deletes too: the other months, and the caller's batched deletes after them, still run.

Making and dropping a partition need the tables' owner, which no server connects as: both go through the owner's
functions (``pipelines.store.partition_functions``), which the purge role, a Celery worker's, may run.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import prometheus_client
import structlog
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from pipelines.models import CheckpointLog, LineageLink, Trace
from pipelines.store import db_roles, partition_functions

log = structlog.get_logger("pipelines.partitions")

MODELS = (CheckpointLog, LineageLink)
KEY = "trace_created_at"
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")

DROP_FAILURES = prometheus_client.Counter(
    "tpfgo_partition_drop_failures_total",
    "Months retention could not drop whole (log partitions.drop_failed): their orders go by the batched deletes.",
)


@dataclass(frozen=True)
class Partition:
    """One partition of ``table``: the month ``[start, end)``, or the DEFAULT partition (no bounds)."""

    table: str
    name: str
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None

    @property
    def default(self) -> bool:
        return self.start is None


def lock_timeout_ms() -> int:
    """How long a month's transaction waits for each lock (``TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS``), in ms."""
    return max(1, round(1000 * float(getattr(settings, "TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS", 10))))


def tables() -> list[str]:
    return [model._meta.db_table for model in MODELS]


def month_of(at: datetime.datetime) -> datetime.datetime:
    """The first instant (UTC) of ``at``'s month: where its partition starts."""
    at = at.astimezone(datetime.UTC)
    return datetime.datetime(at.year, at.month, 1, tzinfo=datetime.UTC)


def next_month(start: datetime.datetime) -> datetime.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def name_of(table: str, start: datetime.datetime) -> str:
    return f"{table}_p{start:%Y_%m}"


def default_name(table: str) -> str:
    return f"{table}_default"


def partitioned(connection: BaseDatabaseWrapper, table: str) -> bool:
    """Whether ``table`` is a partitioned table here (never on SQLite; on PostgreSQL after migration 0020)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relkind FROM pg_class WHERE relname = %s AND relnamespace = current_schema()::regnamespace",
            [table],
        )
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def listed(connection: BaseDatabaseWrapper, table: str) -> list[Partition]:
    """The partitions of ``table``, months in order, then the default one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table],
        )
        rows = cursor.fetchall()
    months, default = [], []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match:
            start, end = (datetime.datetime.fromisoformat(text) for text in match.groups())
            months.append(Partition(table, name, start, end))
        elif bound == "DEFAULT":
            default.append(Partition(table, name))
    return sorted(months, key=lambda p: p.start or datetime.datetime.min) + default


def default_rows(connection: BaseDatabaseWrapper, table: str) -> int:
    """How many rows ``table``'s default partition holds: rows whose month had no partition when written."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(default_name(table))}")  # noqa: S608
        (count,) = cursor.fetchone()
    return int(count)


def ensure(
    *, now: datetime.datetime, months_ahead: int = 3, since: datetime.datetime | None = None, using: str = "default"
) -> list[str]:
    """Create the month partitions from ``since`` (default: ``now``'s month) to ``months_ahead`` months after
    ``now``'s, those missing, for every partitioned table; the names created. Rows the default partition holds
    for such a month move into it. Idempotent; nothing to do on SQLite."""
    connection = connections[using]
    created: list[str] = []
    for table in tables():
        if not partitioned(connection, table):
            continue
        have = {p.start for p in listed(connection, table)}
        start, last = month_of(since or now), month_of(now)
        for _ in range(months_ahead):
            last = next_month(last)
        while start <= last:
            if start not in have and create(connection, table, start):
                created.append(name_of(table, start))
            start = next_month(start)
    return created


def ensure_ahead(using: str = "default") -> list[str]:
    """``ensure`` for today and ``TPFGO_PARTITION_MONTHS_AHEAD`` months ahead, as the purge role when one is
    configured (a Celery worker's: beat's task runs there), through the owner's function: what beat runs."""
    with db_roles.connected_as(getattr(settings, "TPFGO_DATABASE_PURGE", None), using):
        return ensure(now=timezone.now(), months_ahead=settings.TPFGO_PARTITION_MONTHS_AHEAD, using=using)


def create(connection: BaseDatabaseWrapper, table: str, start: datetime.datetime) -> bool:
    """Create ``table``'s partition for the month starting at ``start``, moving the default partition's rows of that
    month into it, with its truncate guard, in one statement: the owner's ``tpfgo_partition_create``
    (``pipelines.store.partition_functions``), so a role that owns no table may run it. False when a peer made it
    first."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {partition_functions.CREATE}(%s, %s)", [table, start])
        (moved,) = cursor.fetchone()
    if moved is None:
        return False
    name = name_of(table, start)
    if moved:
        log.info("partitions.moved_from_default", partition=name, rows=moved)
    log.info("partitions.created", partition=name, start=start.isoformat(), end=next_month(start).isoformat())
    return True


@dataclass(frozen=True)
class Dropped:
    """What ``drop_expired`` did to one month: its partitions (one per table), their orders, the rows each partition
    held, dropped or detached, and what ``purge`` answered (the rows it removed per table)."""

    start: datetime.datetime
    partitions: tuple[str, ...]
    traces: int
    rows: dict[str, int]
    detached: bool
    purged: dict[str, int]


TraceRef = tuple[int, uuid.UUID]  # a trace's number and id
# (the month's traces) -> the ids of those that are expired
Expired = Callable[[Sequence[TraceRef]], Iterable[uuid.UUID]]
# (the month's traces, rows per table its partitions hold) -> rows removed per table: removes the traces' other rows,
# in the month's transaction, before its partitions go (what it answers counts only once the month is committed)
Purge = Callable[[Sequence[TraceRef], dict[str, int]], dict[str, int]]


def drop_expired(
    *,
    before: datetime.datetime,
    expired: Expired,
    purge: Purge,
    detach: bool = False,
    using: str = "default",
) -> list[Dropped]:
    """Drop (or detach, keeping the tables for an archive) every month that ends by ``before`` and whose orders
    are all expired: ``expired(traces)`` returns the ids of those of the month's traces that are (terminal and
    older than the policy, as the purge judges). A month with one order that is not stays whole, for row deletes;
    an empty month stays too.

    One transaction per month, its partitions locked first (no row can land in the month meanwhile): the check,
    then ``purge`` (the retention's removal of the same orders' other rows, their ``Trace`` rows included, with its
    audit record and tombstones), then the drop; a month is gone whole or not at all. The lock and the drop are the
    owner's functions (``pipelines.store.partition_functions``): the purge role may run them, with the purge flag on,
    and the drop refuses a month that still holds rows of an order ``purge`` left. The default partition is never
    dropped. Each lock is waited for ``TPFGO_PARTITION_LOCK_TIMEOUT_SECONDS`` at most (a reader holding a month's
    partition must not hang the purge). A month the database refuses to lock or drop (``DatabaseError``: a lock not
    granted in time among them, sqlstate 55P03) rolls back whole, ``purge``'s rows
    with it, and is logged and counted (``DROP_FAILURES``); the next month is tried all the same.
    """
    connection = connections[using]
    done: list[Dropped] = []
    if not all(partitioned(connection, table) for table in tables()):
        return done
    by_month: dict[datetime.datetime, list[Partition]] = {}
    for table in tables():
        for part in listed(connection, table):
            if part.start is not None and part.end is not None and part.end <= before:
                by_month.setdefault(part.start, []).append(part)
    for start, parts in sorted(by_month.items()):
        try:
            dropped = _drop_month(connection, start, parts, expired, purge, detach)
        except DatabaseError as exc:  # rolled back whole: its orders are left to the row-by-row deletes
            DROP_FAILURES.inc()
            sqlstate = getattr(exc.__cause__, "sqlstate", None)
            log.error("partitions.drop_failed", month=start.isoformat(), sqlstate=sqlstate, error=str(exc).strip())
            continue
        if dropped is not None:
            done.append(dropped)
    return done


def _drop_month(
    connection: BaseDatabaseWrapper,
    start: datetime.datetime,
    parts: list[Partition],
    expired: Expired,
    purge: Purge,
    detach: bool,
) -> Dropped | None:
    qn = connection.ops.quote_name
    # Read through the partitioned tables (the month's range reaches its partition alone): the purge role has no
    # grant on the partitions themselves.
    in_month, bounds = f"{qn(KEY)} >= %s AND {qn(KEY)} < %s", [start, next_month(start)]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # Every lock of the month's transaction (its partitions', the purge's rows', the drop's parents') waits this
        # long at most: a reader holding the month fails it (55P03) instead of hanging the hourly purge behind it.
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms()}ms"])
        cursor.execute(f"SELECT {partition_functions.LOCK}(%s)", [start])
        numbers = " UNION ".join(f"SELECT trace_number FROM {qn(p.table)} WHERE {in_month}" for p in parts)  # noqa: S608
        cursor.execute(
            f"SELECT number, trace_id FROM {qn(Trace._meta.db_table)} WHERE number IN ({numbers}) ORDER BY number",  # noqa: S608
            bounds * len(parts),
        )
        traces = [(int(number), uuid.UUID(str(trace_id))) for number, trace_id in cursor.fetchall()]
        if not traces:
            return None  # nothing to gain; left for the day it matters
        kept = {t for _, t in traces} - set(expired(traces))
        if kept:
            log.info("partitions.kept", month=start.isoformat(), traces=len(traces), not_expired=len(kept))
            return None
        rows: dict[str, int] = {}
        for part in parts:
            cursor.execute(f"SELECT COUNT(*) FROM {qn(part.table)} WHERE {in_month}", bounds)  # noqa: S608
            rows[part.table] = int(cursor.fetchone()[0])
        purged = purge(traces, rows)
        cursor.execute(f"SELECT {partition_functions.DROP}(%s, %s)", [start, detach])
        names = tuple(cursor.fetchone()[0])
    log.warning("partitions.dropped", month=start.isoformat(), partitions=names, traces=len(traces), detached=detach)
    return Dropped(start=start, partitions=names, traces=len(traces), rows=rows, detached=detach, purged=purged)
