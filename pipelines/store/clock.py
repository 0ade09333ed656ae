"""The database server's clock: the one clock of every node, for the times one node writes and another compares.

A claim's time, a parked item's next attempt, an outcome's time and a sweep slot are written by one node and judged
by another (the sweeper on the beat leader, a worker taking a claim over). Read from each node's own clock, a node
whose clock is off re-claimed live work early (ahead, or its claims written behind) or recovered stuck work late.
So these are written with the database's clock in the insert itself (``stamp``), and compared with the database's
clock read once per pass (``now``): PostgreSQL's ``clock_timestamp()``, SQLite's ``'now'`` (the server's time when
the statement runs, not the transaction's start).

Where a time is needed on the step path (a checkpoint's time, a wait's deadline, a hold) or by a pass that compares
it with those, another round trip per step would cost every order. There a node reckons the database's time
(``reckoned``): its own clock plus its offset from the database's, measured when each of its connections opens
(``calibrate``: one statement per connection, none per step), and measured again once it is older than
``TPFGO_CLOCK_MEASURE_SECONDS`` (60 s; by the process's monotonic clock, which a step of the node's clock does not
move): a process that keeps its connection (a ``manage.py`` command running for hours) reckons right again within
that time of its node's clock being stepped. An offset under ``TOLERANCE`` is a round trip's noise, not drift, and is
left out. A node's own clock otherwise only says when it asks.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.functions import Now
from django.db.models.sql.compiler import SQLCompiler
from django.utils import dateparse, timezone


class ClockTimestamp(Now):
    """The database's time when the statement evaluates it: ``clock_timestamp()`` on PostgreSQL (``now()`` would be
    the transaction's start); on SQLite ``'now'``, to the millisecond, written as Django writes a datetime
    (``2026-12-07 09:30:00.123000``, no fraction at a whole second), so a stamped value read back and compared
    for equality matches its row."""

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[str | int, ...]]:
        return self.as_sql(compiler, connection, template="clock_timestamp()", **extra_context)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[str | int, ...]]:
        return self.as_sql(compiler, connection, template=_SQLITE_NOW, **extra_context)


# 'now' is one instant within a statement, so both readings agree (%%%% is one % once formatted and quoted).
_SQLITE_NOW = (
    "CASE WHEN STRFTIME('%%%%f', 'now') LIKE '%%%%.000' THEN STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%S', 'now') "
    "ELSE STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', 'now') || '000' END"
)


def now(using: str = DEFAULT_DB_ALIAS) -> datetime.datetime:
    """The database's time now (aware, UTC on SQLite): what a pass compares the stamped times with."""
    return _read(connections[using])


def _read(connection: BaseDatabaseWrapper) -> datetime.datetime:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            found: datetime.datetime = cursor.fetchone()[0]
            return found
        cursor.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'now')")
        parsed = dateparse.parse_datetime(cursor.fetchone()[0])
    assert parsed is not None  # SQLite's own format
    return parsed.replace(tzinfo=datetime.UTC)


def stamp() -> ClockTimestamp:
    """A row's time as ``now`` reads it, evaluated by the database when the insert runs."""
    return ClockTimestamp()


log = structlog.get_logger("pipelines.clock")

TOLERANCE = datetime.timedelta(seconds=1)
_offsets: dict[str, datetime.timedelta] = {}  # per database alias: this node's clock to the database's
_measured: dict[str, float] = {}  # per database alias: when its offset was measured (``time.monotonic``)


def calibrate(connection: BaseDatabaseWrapper | None = None) -> datetime.timedelta:
    """Measure how far the database's clock is from this node's (from the middle of the round trip), keep it for
    ``reckoned``, and return it. Called when a connection opens (``pipelines.apps``)."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    before = timezone.now()
    database = _read(connection)
    after = timezone.now()
    offset = database - (before + (after - before) / 2)
    _offsets[connection.alias] = offset if abs(offset) >= TOLERANCE else datetime.timedelta()
    _measured[connection.alias] = time.monotonic()
    return offset


def reckoned(using: str = DEFAULT_DB_ALIAS) -> datetime.datetime:
    """The database's time as this node reckons it: its clock plus the offset last measured, with no round trip
    unless that measurement is older than ``TPFGO_CLOCK_MEASURE_SECONDS`` (then one, to measure it again)."""
    measured = _measured.get(using)
    if measured is not None:
        interval = float(getattr(settings, "TPFGO_CLOCK_MEASURE_SECONDS", 60))
        if interval > 0 and time.monotonic() - measured >= interval:
            _measure_again(using)
    return timezone.now() + _offsets.get(using, datetime.timedelta())


def _measure_again(using: str) -> None:
    connection = connections[using]
    # A closed connection measures when it opens again; an aborted transaction reads nothing until it rolls back.
    if connection.connection is None or connection.needs_rollback:
        return
    try:
        calibrate(connection)
    except DatabaseError as exc:
        # The database is out of reach (an outage's run again reckons its ETA): keep the offset it last gave, and
        # ask again an interval later rather than at every reckoning.
        _measured[using] = time.monotonic()
        log.warning("clock.measure_failed", database=using, error=repr(exc))


# A node whose clock is further off than this from the database's, with ``TPFGO_DELAYED_DELIVERY=broker``: a worker
# there runs retries and drain releases early or late by it (Celery holds a message with an ETA until due by the
# clock of the worker that took it). ``manage.py check --deploy`` (``pipelines.W046``) and a worker's start warn.
DRIFT_WARNING = datetime.timedelta(seconds=2)


def broker_drift() -> datetime.timedelta | None:
    """How far this node's clock is from the database's, measured now, when it is beyond ``DRIFT_WARNING`` while
    later work waits in the broker; ``None`` otherwise (or when the database cannot be asked)."""
    if getattr(settings, "TPFGO_DELAYED_DELIVERY", "broker") == "database":
        return None
    try:
        offset = calibrate()
    except DatabaseError:
        return None
    return offset if abs(offset) > DRIFT_WARNING else None


def warn_worker_drift(**kwargs: object) -> None:
    """Celery ``worker_init`` receiver (connected by the pipelines app): a worker whose clock is off says so."""
    offset = broker_drift()
    if offset is not None:
        log.warning(
            "clock.worker_drift",
            offset_s=round(offset.total_seconds(), 3),
            threshold_s=DRIFT_WARNING.total_seconds(),
            remedy="sync this node's clock (NTP), or TPFGO_DELAYED_DELIVERY=database",
        )
