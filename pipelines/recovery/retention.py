"""Retention: the only code that removes facts, by policy, in bounded batches, each batch atomic and audited.

``TPFGO_RETENTION`` keeps each kind of data a number of days (0 or None: forever):

- ``orders``: a trace whose derived state is terminal (the domain says which: ``TPFGO_RETENTION_TERMINAL``), with
  no open failure and no open wait, whose newest checkpoint is older than the policy, is removed whole (every row,
  ``pipelines.store.purge.trace_targets``) and leaves a tombstone;
- ``error_sink``: error-sink entries older than the policy, except those of an item still parked (retrying, held
  or dead-lettered): they are what its open failure shows;
- ``parked``: parked items closed (resolved or cancelled) longer ago than the policy, with their schedules,
  claims, outcomes, holds and releases;
- ``ops_actions``: ops actions and bulk runs older than the policy (kept longest: they are the audit trail), but
  for the actions ``TPFGO_RETENTION_KEPT_ACTIONS`` names, kept forever (an erasure's proof);
- ``sweep_ticks``: the sweeper's claimed time slots (``SweepTick``, one per 30 s, ~2,900 a day) older than the
  policy: "the sweeper ran once per tick" stays a query over the recent ones; and the messages it sent for lost
  work (``SweepDispatch``, ``pipelines.recovery.resends``), which only matter within the sweep window.

Each batch runs in its own ``transaction.atomic(durable=True)`` with the purge flag on (``purge_allowed``: as the
purge role when one is configured) and writes one ``PurgeRecord`` (who, which policy, the cutoff, the id range,
rows per table) in the same transaction: a batch that is interrupted (a killed process) removed nothing and left
no record. A dry run counts the same rows per table and writes nothing.
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils.module_loading import import_string

from pipelines.models import (
    BulkRun,
    BulkRunResult,
    CheckpointLog,
    ErrorSinkEntry,
    LineageLink,
    OpenParked,
    OpenWait,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    PurgeRecord,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
    SweepDispatch,
    SweepTick,
    Trace,
)
from pipelines.store import clock, partitions
from pipelines.store import purge as rows
from pipelines.store.db_roles import purge_allowed

log = structlog.get_logger("pipelines.retention")

POLICIES = ("orders", "error_sink", "parked", "ops_actions", "sweep_ticks")
# (trace ids) -> the subset whose derived state is terminal: the domain's answer (the engine knows no order states).
Terminal = Callable[[Sequence[uuid.UUID]], set[uuid.UUID]]


class PurgeInterrupted(Exception):
    """A trace of the batch got a new fact while the batch ran: the batch rolled back; the next run retries."""


@dataclass
class Outcome:
    """What one policy's run removed (or, dry, would remove)."""

    policy: str
    cutoff: datetime.datetime | None
    items: int = 0
    batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, items: int, counts: dict[str, int], *, batch: bool = True) -> None:
        self.items += items
        self.batches += int(batch)
        for table, n in counts.items():
            self.rows[table] = self.rows.get(table, 0) + n


def cutoffs(now: datetime.datetime) -> dict[str, datetime.datetime | None]:
    """Each policy's cutoff: rows older than it are expired (None: kept forever). ``ImproperlyConfigured`` for an
    age that is not a number of days from 0 up, before anything is read or removed: a negative age would make
    every finished order expired at once, NaN or infinity would stop the run halfway."""
    ages: dict[str, Any] = getattr(settings, "TPFGO_RETENTION", {})
    return {p: _cutoff(now, p, ages.get(p)) for p in POLICIES}


def _cutoff(now: datetime.datetime, policy: str, age: object) -> datetime.datetime | None:
    try:
        days = float(age or 0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        days = math.nan
    if not math.isfinite(days) or days < 0:
        raise ImproperlyConfigured(
            f"TPFGO_RETENTION[{policy!r}] is {age!r}: give a number of days from 0 up (0: kept forever); "
            f"the environment sets it as TPFGO_RETENTION_{policy.upper()}_DAYS"
        )
    return now - datetime.timedelta(days=days) if days else None


def purge(
    *,
    actor: str,
    policies: Iterable[str] = POLICIES,
    dry_run: bool = False,
    batch_size: int | None = None,
    now: datetime.datetime | None = None,
) -> list[Outcome]:
    """Run the policies in order; one ``Outcome`` each. Not inside a transaction (each batch is its own). The
    cutoffs are counted from the database's clock, which the rows' times are written with (``pipelines.store.clock``),
    not from this node's."""
    now = now or clock.now()
    size = batch_size or int(getattr(settings, "TPFGO_RETENTION_BATCH", 200))
    limits = cutoffs(now)
    outcomes = []
    policies = list(policies)
    months = Outcome("orders", limits["orders"])
    if "orders" in policies and not dry_run and months.cutoff is not None:
        _months(months, actor=actor, size=size, now=now)
    with purge_allowed(f"retention by {actor}"):
        for policy in policies:
            outcome = months if policy == "orders" else Outcome(policy, limits[policy])
            if outcome.cutoff is not None:
                RUNS[policy](outcome, actor=actor, size=size, dry_run=dry_run, now=now)
            log.info("retention.done", policy=policy, dry_run=dry_run, items=outcome.items, rows=outcome.rows)
            outcomes.append(outcome)
    return outcomes


def _record(outcome: Outcome, actor: str, first: str, last: str, items: int, counts: dict[str, int]) -> uuid.UUID:
    assert outcome.cutoff is not None
    record = PurgeRecord.objects.create(
        id=uuid.uuid4(),
        policy=outcome.policy,
        actor=actor,
        cutoff=outcome.cutoff,
        first_id=first,
        last_id=last,
        items=items,
        rows=counts,
        created_at=clock.stamp(),
    )
    return record.id


# --- orders: whole traces


def _terminal() -> Terminal | None:
    path = getattr(settings, "TPFGO_RETENTION_TERMINAL", "")
    return import_string(path) if path else None


def expired_traces(cutoff: datetime.datetime, after: int, limit: int) -> tuple[list[tuple[int, uuid.UUID]], int, bool]:
    """The next ``limit`` traces after trace number ``after``, filtered to those that may go (started before
    ``cutoff``, terminal, nothing open, newest checkpoint before ``cutoff``); the number the scan goes on from; and
    whether it is over: numbers are handed out in the order traces start, so the first trace started after the
    cutoff ends the expired region (one that started a moment earlier on a skewed clock waits for the next run)."""
    window = list(
        Trace.objects.filter(number__gt=after)
        .order_by("number")
        .values_list("number", "trace_id", "created_at")[:limit]
    )
    scanned = [(n, t) for n, t, created in window if created < cutoff]
    over = len(window) < limit or len(scanned) < len(window)
    return may_go(scanned, cutoff), window[-1][0] if window else after, over


def may_go(scanned: Sequence[tuple[int, uuid.UUID]], cutoff: datetime.datetime) -> list[tuple[int, uuid.UUID]]:
    """Those of the traces (number, id) that may go: terminal, nothing open, newest checkpoint before ``cutoff``."""
    terminal = _terminal()
    if not scanned or terminal is None:
        return []
    ids = [t for _, t in scanned]
    done = terminal(ids)
    busy = set(OpenParked.objects.filter(trace_id__in=ids).values_list("trace_id", flat=True))
    busy |= set(OpenWait.objects.filter(trace_id__in=ids).values_list("trace_id", flat=True))
    newest = dict(
        CheckpointLog.objects.filter(trace_number__in=[n for n, _ in scanned])
        .values("trace_number")
        .annotate(newest=Max("created_at"))
        .values_list("trace_number", "newest")
    )
    return [(n, t) for n, t in scanned if t in done and t not in busy and n in newest and newest[n] < cutoff]


def _orders(outcome: Outcome, *, actor: str, size: int, dry_run: bool, now: datetime.datetime) -> None:
    assert outcome.cutoff is not None
    if _terminal() is None:  # no domain says which traces are finished: no trace is ever removed
        return
    after, over = 0, False
    while not over:
        try:
            with transaction.atomic(durable=True):
                eligible, after, over = expired_traces(outcome.cutoff, after, size)
                if eligible:
                    _purge_traces(outcome, eligible, actor=actor, dry_run=dry_run, now=now)
        except PurgeInterrupted as exc:  # rolled back whole; the next run takes these orders again
            log.warning("retention.interrupted", policy=outcome.policy, reason=str(exc))


def _purge_traces(
    outcome: Outcome, eligible: list[tuple[int, uuid.UUID]], *, actor: str, dry_run: bool, now: datetime.datetime
) -> None:
    batch = rows.TraceBatch(tuple(n for n, _ in eligible), tuple(t for _, t in eligible))
    if dry_run:
        outcome.add(len(eligible), rows.count(rows.trace_targets(batch)))
        return
    keys = rows.idempotency_keys(batch.numbers)
    counts = rows.delete_traces(batch)
    if CheckpointLog.objects.filter(trace_number__in=batch.numbers).exists():
        raise PurgeInterrupted(f"a trace of batch {batch.numbers[0]}..{batch.numbers[-1]} got a new checkpoint")
    first, last = str(batch.numbers[0]), str(batch.numbers[-1])
    purge_id = _record(outcome, actor, first, last, len(eligible), counts)
    rows.bury(keys, batch.trace_ids, purge_id, now)
    outcome.add(len(eligible), counts)


def _months(outcome: Outcome, *, actor: str, size: int, now: datetime.datetime) -> None:
    """PostgreSQL: a month of the log and the lineage whose orders may all go is dropped whole instead of deleted
    row by row (``pipelines.store.partitions``): one transaction per month removes its orders' other rows (in
    chunks of ``size`` traces), records the purge, leaves the tombstones and drops the month's partitions. As the
    purge role, with the purge flag, the lock and the drop through the owner's functions
    (``pipelines.store.partition_functions``); the batched deletes then take what no whole month covered, a month
    whose drop failed included (``partitions.drop_failed``)."""
    cutoff = outcome.cutoff
    assert cutoff is not None
    if _terminal() is None:
        return

    def expired(traces: Sequence[tuple[int, uuid.UUID]]) -> list[uuid.UUID]:
        found: list[uuid.UUID] = []
        for start in range(0, len(traces), size):
            chunk = traces[start : start + size]
            going = may_go(chunk, cutoff)
            found += [t for _, t in going]
            if len(going) < len(chunk):
                break  # one that stays keeps the month: no need to look further
        return found

    def remove(traces: Sequence[tuple[int, uuid.UUID]], dropped: dict[str, int]) -> dict[str, int]:
        counts, keys = dict(dropped), {}
        for start in range(0, len(traces), size):
            chunk = traces[start : start + size]
            batch = rows.TraceBatch(tuple(n for n, _ in chunk), tuple(t for _, t in chunk))
            keys.update(rows.idempotency_keys(batch.numbers))
            others = [target for target in rows.trace_targets(batch) if target[0] not in (CheckpointLog, LineageLink)]
            for table, n in rows.delete(others).items():
                counts[table] = counts.get(table, 0) + n
        purge_id = _record(outcome, actor, str(traces[0][0]), str(traces[-1][0]), len(traces), counts)
        rows.bury(keys, [t for _, t in traces], purge_id, now)
        return counts

    with purge_allowed(f"retention by {actor}"):
        months = partitions.drop_expired(before=cutoff, expired=expired, purge=remove)
    for month in months:  # committed months only: one whose drop failed rolled back, and its orders go in batches
        outcome.add(month.traces, month.purged)


# --- error-sink entries, closed parked items, ops actions: rows older than the policy, oldest first


def _parked_targets(parked: Any) -> list[rows.Target]:
    base = ParkedItem._base_manager
    return [
        (PauseRelease, PauseRelease._base_manager.filter(hold__parked_id__in=parked)),
        (PausedItem, PausedItem._base_manager.filter(parked_id__in=parked)),
        (RetryScheduled, RetryScheduled._base_manager.filter(parked_id__in=parked)),
        (RetryClaim, RetryClaim._base_manager.filter(parked_id__in=parked)),
        (RetryTakeover, RetryTakeover._base_manager.filter(parked_id__in=parked)),
        (ParkingOutcome, ParkingOutcome._base_manager.filter(parked_id__in=parked)),
        (ParkedItem, base.filter(id__in=parked)),
    ]


def _closed_parked(cutoff: datetime.datetime) -> Any:
    open_ids = OpenParked.objects.values("parked_id")
    recent = ParkingOutcome.objects.filter(created_at__gte=cutoff).values("parked_id")
    return (
        ParkedItem.objects.filter(created_at__lt=cutoff, outcomes__isnull=False)
        .exclude(id__in=open_ids)
        .exclude(id__in=recent)
        .distinct()
    )


def _open_items() -> Any:
    """The open parked items (retrying, held or dead-lettered) an error-sink entry is of: an item still open shows
    what failed and how often from its entries (``open_failure``), so they stay until it closes."""
    return ParkedItem.objects.filter(
        id__in=OpenParked.objects.values("parked_id"),
        trace_id=OuterRef("trace_id"),
        pipeline=OuterRef("pipeline"),
        item_id=OuterRef("item_id"),
        branch=OuterRef("branch"),
    )


def _expired(policy: str, cutoff: datetime.datetime) -> list[tuple[Any, Callable[[Any], list[rows.Target]]]]:
    """The expired rows of a policy, as (ordered queryset of the items, the targets of some of their ids)."""
    if policy == "error_sink":
        entries = ErrorSinkEntry.objects.filter(created_at__lt=cutoff).exclude(Exists(_open_items()))
        return [(entries, lambda ids: [(ErrorSinkEntry, ErrorSinkEntry._base_manager.filter(id__in=ids))])]
    if policy == "parked":
        return [(_closed_parked(cutoff), _parked_targets)]
    if policy == "sweep_ticks":
        ticks = SweepTick.objects.filter(created_at__lt=cutoff)
        sends = SweepDispatch.objects.filter(created_at__lt=cutoff)
        return [
            (ticks, lambda ids: [(SweepTick, SweepTick._base_manager.filter(id__in=ids))]),
            (sends, lambda ids: [(SweepDispatch, SweepDispatch._base_manager.filter(id__in=ids))]),
        ]
    kept = getattr(settings, "TPFGO_RETENTION_KEPT_ACTIONS", ())
    actions = OpsAction.objects.filter(created_at__lt=cutoff).exclude(action__in=kept)
    runs = BulkRun.objects.filter(created_at__lt=cutoff)
    return [
        (actions, lambda ids: [(OpsAction, OpsAction._base_manager.filter(id__in=ids))]),
        (
            runs,
            lambda ids: [
                (BulkRunResult, BulkRunResult._base_manager.filter(run_id__in=ids)),
                (BulkRun, BulkRun._base_manager.filter(id__in=ids)),
            ],
        ),
    ]


def _rows_older(outcome: Outcome, *, actor: str, size: int, dry_run: bool, now: datetime.datetime) -> None:
    assert outcome.cutoff is not None
    for items, targets in _expired(outcome.policy, outcome.cutoff):
        if dry_run:  # the whole set at once: nothing is deleted, so batches would never move on
            outcome.add(items.count(), rows.count(targets(items.values("id"))), batch=False)
            continue
        while True:
            with transaction.atomic(durable=True):
                chosen = list(items.order_by("created_at", "id").values_list("id", flat=True)[:size])
                if not chosen:
                    break
                counts = rows.delete(targets(chosen))
                _record(outcome, actor, str(chosen[0]), str(chosen[-1]), len(chosen), counts)
                outcome.add(len(chosen), counts)


RUNS: dict[str, Callable[..., None]] = {
    "orders": _orders,
    "error_sink": _rows_older,
    "parked": _rows_older,
    "ops_actions": _rows_older,
    "sweep_ticks": _rows_older,
}
