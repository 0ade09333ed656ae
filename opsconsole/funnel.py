"""The dashboard's checkpoint funnel at a cost that does not grow with the log: folded per-day counts plus a tail.

The funnel shows, per checkpoint type and day, how many orders (distinct traces) reached it. Counting the log
for seven days on every load cost seconds at volume. Instead a periodic task (``opsconsole.fold_funnel``) folds
the log in ``seq`` order into ``FunnelDay`` (one row per day and type), and the dashboard adds the rows after the
folded position (the tail: about one fold interval of writes). Nothing is added to the engine's write path.

A trace counts once per (type, day) however many rows of that type it has that day (two kitchen tasks, a
retried step): only a group's first row (lowest ``seq``) is counted, found through the log's
``(trace_number, seq)`` index. So folded counts plus the tail equal a direct ``COUNT(DISTINCT trace_id)``
whatever the fold's batch boundaries (tests/opsconsole/test_funnel.py proves it on SQLite and PostgreSQL).

Which seq is safe to fold: SQLite serializes writers, so every visible row below the highest visible seq has
committed. PostgreSQL takes a seq at insert, before commit; a fold there goes up to the sequence position it
recorded on an earlier run (``FunnelFold.mark_seq``) once every transaction of this database that held a
transaction id then (``mark_xids``, from ``pg_stat_activity``) has ended. Transactions of other databases on the
same server never hold the fold back.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from opsconsole.models import FunnelDay, FunnelFold
from pipelines import database_reckoned
from pipelines.models import CheckpointLog

NAME = "funnel"
# The dashboard re-reads when a fold committed between its two reads; a fold is rare, so this is never reached.
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Folded:
    """What one ``fold`` call did."""

    folded_seq: int
    rows: int  # log rows read
    batches: int


@dataclass(frozen=True)
class Position:
    """How far the funnel is folded, and when that last moved (for the dashboard's note)."""

    folded_seq: int
    folded_at: datetime.datetime | None


def _first_of_group(rows: QuerySet[CheckpointLog]) -> QuerySet[CheckpointLog]:
    """``rows`` that are the first (lowest seq) of their (trace, type, day): one per order that reached it.

    A correlated ``ORDER BY seq LIMIT 1`` per row, walked on the ``(trace_number, seq)`` index: PostgreSQL runs
    it as a sub-plan per row. A ``NOT EXISTS`` would be planned as an anti-join that hashes the whole log.
    """
    first = CheckpointLog.objects.filter(
        trace_number=OuterRef("trace_number"),
        checkpoint_type=OuterRef("checkpoint_type"),
        created_at__date=OuterRef("day"),
    ).order_by("seq")
    return (
        rows.annotate(day=TruncDate("created_at"))
        .annotate(first_seq=Subquery(first.values("seq")[:1]))
        .filter(seq=F("first_seq"))
    )


def _counts(rows: QuerySet[CheckpointLog]) -> dict[tuple[datetime.date, str], int]:
    first = _first_of_group(rows)
    # ``day`` is an annotation of ``_first_of_group``, which the stubs' plugin cannot see across the call.
    grouped = first.values("day", "checkpoint_type").annotate(orders=Count("seq")).order_by()  # type: ignore[misc]
    return {(row["day"], row["checkpoint_type"]): row["orders"] for row in grouped}


@contextmanager
def without_jit() -> Iterator[None]:
    """A transaction in which PostgreSQL does not JIT-compile: the dashboard's and the fold's queries are estimated
    costly enough to trigger it, and compiling took longer than running them (docs/operations.md)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


# -- the fold (the periodic task's work) ----------------------------------------------------------------------
def fold(*, batch: int | None = None) -> Folded:
    """Fold every log row that is safe to fold, ``batch`` seqs per transaction; returns where it stopped."""
    size = batch or settings.TPFGO_FUNNEL_FOLD_BATCH
    bound = _safe_bound()
    rows = batches = 0
    while True:
        with without_jit():
            state = _locked_state()
            if state.folded_seq >= bound:
                state.folded_at = database_reckoned()
                state.save(update_fields=["folded_at"])
                return Folded(state.folded_seq, rows, batches)
            high = min(bound, state.folded_seq + size)
            window = CheckpointLog.objects.filter(seq__gt=state.folded_seq, seq__lte=high)
            found = window.count()
            if found:
                rows += found
                _add(_counts(window))
            else:  # a stretch of seqs without rows (rolled back, or purged): on to the next row there is
                following = _next_seq(high, bound)
                high = bound if following is None else following - 1
            state.folded_seq, state.folded_at = high, database_reckoned()
            state.save(update_fields=["folded_seq", "folded_at"])
            batches += 1


def _next_seq(after: int, bound: int) -> int | None:
    """The first seq of the log after ``after`` and up to ``bound``, if any."""
    later = CheckpointLog.objects.filter(seq__gt=after, seq__lte=bound).order_by("seq")
    following: int | None = later.values_list("seq", flat=True).first()
    return following


def _locked_state() -> FunnelFold:
    FunnelFold.objects.get_or_create(name=NAME)
    return FunnelFold.objects.select_for_update().get(name=NAME)


def _add(counts: dict[tuple[datetime.date, str], int]) -> None:
    if not counts:
        return
    days = {day for day, _ in counts}
    stored = {(r.day, r.checkpoint_type): r for r in FunnelDay.objects.filter(day__in=days)}
    changed = []
    for key, orders in counts.items():
        if key in stored:
            stored[key].orders += orders
            changed.append(stored[key])
    FunnelDay.objects.bulk_update(changed, ["orders"])
    FunnelDay.objects.bulk_create(
        FunnelDay(day=day, checkpoint_type=kind, orders=orders)
        for (day, kind), orders in counts.items()
        if (day, kind) not in stored
    )


def _safe_bound() -> int:
    """The highest seq below which every log row has committed (or rolled back for good)."""
    if connection.vendor != "postgresql":
        newest = CheckpointLog.objects.order_by("-seq").values_list("seq", flat=True).first()
        return newest or 0
    with connection.cursor() as cursor:
        table = CheckpointLog._meta.db_table
        cursor.execute(f"SELECT last_value, is_called FROM {_sequence(cursor, table)}")  # noqa: S608  (a name)
        last, called = cursor.fetchone()
        # Read after the sequence: the transactions of this database holding a transaction id now. One that took a
        # seq up to ``last`` is among them (the engine writes a checkpoint before its log row, so it holds an id).
        cursor.execute(
            "SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        )
        running = sorted(cursor.fetchone()[0])
    with transaction.atomic():
        state = _locked_state()
        bound = state.folded_seq
        if state.mark_seq is not None and not _still_running(state.mark_xids):
            bound = max(bound, state.mark_seq)
        state.mark_seq, state.mark_xids = (last if called else 0), running
        state.save(update_fields=["mark_seq", "mark_xids"])
    return bound


def _still_running(xids: list[int]) -> bool:
    """Whether a transaction of this database that held one of ``xids`` at the mark is still open."""
    if not xids:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_xid::text::bigint = ANY(%s))",
            [xids],
        )
        return bool(cursor.fetchone()[0])


def _sequence(cursor: object, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'seq')", [table])  # type: ignore[attr-defined]
    name = cursor.fetchone()[0]  # type: ignore[attr-defined]
    return str(name)


# -- the read (the dashboard's) ---------------------------------------------------------------------------------
def position() -> Position:
    state = FunnelFold.objects.filter(name=NAME).first()
    return Position(state.folded_seq, state.folded_at) if state else Position(0, None)


def per_day(start: datetime.date) -> tuple[dict[tuple[datetime.date, str], int], Position]:
    """Orders per (day, type) from ``start`` on: the folded counts plus the unfolded tail, and the fold position."""
    for _ in range(READ_ATTEMPTS):
        before = position()
        folded = {
            (r.day, r.checkpoint_type): r.orders
            for r in FunnelDay.objects.filter(day__gte=start).only("day", "checkpoint_type", "orders")
        }
        if position().folded_seq == before.folded_seq:
            break
    else:  # pragma: no cover - a fold committing on every one of the attempts
        raise RuntimeError("the funnel was folded during every read")
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=timezone.get_current_timezone())
    tail = CheckpointLog.objects.filter(seq__gt=before.folded_seq, created_at__gte=since)
    for key, orders in _counts(tail).items():
        folded[key] = folded.get(key, 0) + orders
    return folded, before
