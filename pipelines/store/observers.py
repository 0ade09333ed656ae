"""Checkpoint observers and mid-step taps: two ways to watch the engine, with very different guarantees.

**Checkpoint observers** (:func:`observe`) are what other features may rely on. An observer reads the checkpoint
log (``CheckpointLog``) from its stored position (``ObserverPosition``), so it sees committed checkpoints only,
in log order, and catches up after a restart. A log ``seq`` is taken when the row is inserted, before its
transaction commits, so a later seq can become visible before an earlier one: a reader never moves past a
missing seq until it has waited ``TPFGO_OBSERVER_GAP_TIMEOUT`` seconds for it (a rolled-back transaction leaves a
permanent hole). A seq given up on is re-checked for ``TPFGO_OBSERVER_LATE_HORIZON`` seconds and delivered late
if it commits after all; deliveries are deduplicated by checkpoint id. Delivery is exactly once across graceful
stops; across a crash an observer may see the entries since its last saved position again, unless it is
``atomic`` (its database effects and the position commit together, so it cannot call the engine).

**Mid-step taps** (:func:`tap`) are explicit, best-effort hooks called with a step's output values inside the
step's transaction, before anything is inserted. A tap may see work that is later rolled back (a failing
insert, a per-pipeline transaction that fails at a later step) and must never be used to drive other work:
promote what you need to a checkpoint and observe it. A tap's exception is logged and counted, never raised.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, connections, transaction
from prometheus_client import Counter

from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, ObserverPosition
from pipelines.store.vendor import half

log = structlog.get_logger("pipelines.observers")
TAP_ERRORS = Counter(
    "tpfgo_tap_errors_total", "Mid-step tap calls that raised (logged, never propagated).", ["pipeline", "step"]
)
OBSERVER_DELIVERED = Counter(
    "tpfgo_observer_delivered_total", "Checkpoint-log entries delivered, per observer.", ["observer"]
)

# -- mid-step taps ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TapValue:
    """One output row of a running step, copied: ``type`` (model name), ``id`` and field values by attribute."""

    type: str
    id: uuid.UUID
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class TapEvent:
    """What a tap sees: a step's output values before insert and commit. It may still be rolled back."""

    pipeline: str
    step: str
    trace_id: uuid.UUID
    values: tuple[TapValue, ...]


Tap = Callable[[TapEvent], None]
_taps: dict[tuple[str, str], list[Tap]] = {}
_taps_lock = threading.Lock()


def tap(pipeline: str, step: str, fn: Tap) -> Callable[[], None]:
    """Opt in to ``fn(event)`` for every run of ``pipeline``/``step``; returns the function that removes it."""
    with _taps_lock:
        _taps.setdefault((pipeline, step), []).append(fn)

    def untap() -> None:
        with _taps_lock:
            fns = _taps.get((pipeline, step), [])
            if fn in fns:
                fns.remove(fn)

    return untap


def emit_taps(pipeline: str, step: str, rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]]) -> None:
    """The runner's hook, inside the step's transaction right after the output rows are built."""
    fns = _taps.get((pipeline, step))
    if not fns or not rows:
        return
    values = tuple(
        TapValue(type(row).__name__, row.pk, {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields})
        for row, _ in rows
    )
    event = TapEvent(pipeline, step, rows[0][0].trace_id, values)
    for fn in list(fns):
        try:
            fn(event)
        except Exception as exc:  # noqa: BLE001  (best effort: a tap never fails the step it watches)
            TAP_ERRORS.labels(pipeline, step).inc()
            log.warning("tap.failed", pipeline=pipeline, step=step, error=f"{type(exc).__name__}: {exc}")


# -- commit notifications ---------------------------------------------------------------------------------------
_commits = threading.Condition()
_commit_count = 0


def notify() -> None:
    """The runner's after-commit hook: wakes in-process readers; the log stays the only source of entries."""
    global _commit_count
    with _commits:
        _commit_count += 1
        _commits.notify_all()


def wait_for_commit(seen: int, timeout: float) -> int:
    """Wait until a commit after the ``seen``-th (or ``timeout``); return the current commit count."""
    with _commits:
        _commits.wait_for(lambda: _commit_count != seen, timeout)
        return _commit_count


def commit_count() -> int:
    return _commit_count


# -- checkpoint observers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observer:
    """``fn(entry)`` for every committed checkpoint-log entry whose publication or type is in ``selectors``."""

    name: str
    fn: Callable[[CheckpointLog], None]
    selectors: frozenset[str] = frozenset()  # empty: every checkpoint
    atomic: bool = False

    def wants(self, entry: CheckpointLog) -> bool:
        return not self.selectors or entry.publication in self.selectors or entry.checkpoint_type in self.selectors


_observers: dict[str, Observer] = {}


def observe(
    *selectors: str, name: str | None = None, atomic: bool = False
) -> Callable[[Callable[[CheckpointLog], None]], Callable[[CheckpointLog], None]]:
    """Register a checkpoint observer of publications or checkpoint types (none: every checkpoint)."""

    def register(fn: Callable[[CheckpointLog], None]) -> Callable[[CheckpointLog], None]:
        observer = Observer(name or f"{fn.__module__}.{fn.__qualname__}", fn, frozenset(selectors), atomic)
        _observers[observer.name] = observer
        return fn

    return register


def unregister(name: str) -> None:
    _observers.pop(name, None)


def registered() -> dict[str, Observer]:
    return dict(_observers)


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


@dataclass
class Reader:
    """Delivers the checkpoint log to one observer from its stored position. One reader per observer name."""

    observer: Observer
    gap_timeout: float = field(default_factory=lambda: _setting("TPFGO_OBSERVER_GAP_TIMEOUT", 10.0))
    late_horizon: float = field(default_factory=lambda: _setting("TPFGO_OBSERVER_LATE_HORIZON", 300.0))
    batch: int = 500
    clock: Callable[[], float] = time.time
    _gap_since: dict[int, float] = field(default_factory=dict)
    _recent: deque[uuid.UUID] = field(default_factory=lambda: deque(maxlen=10_000))
    _recent_set: set[uuid.UUID] = field(default_factory=set)

    def position(self) -> ObserverPosition:
        """The stored position (a new observer starts at 0: the whole log)."""
        stored, _ = ObserverPosition.objects.get_or_create(name=self.observer.name)
        return stored

    def poll(self) -> int:
        """Deliver every entry that can be delivered now, in log order; return how many were delivered."""
        stored = self.position()
        delivered = 0
        try:
            delivered += self._late(stored)
            while True:
                rows = list(CheckpointLog.objects.filter(seq__gt=stored.seq).order_by("seq")[: self.batch])
                count, complete = self._walk(stored, rows)
                delivered += count
                if not complete or len(rows) < self.batch:
                    return delivered
        finally:
            stored.save()

    def _walk(self, stored: ObserverPosition, rows: list[CheckpointLog]) -> tuple[int, bool]:
        delivered = 0
        for row in rows:
            if row.seq != stored.seq + 1 and not self._give_up(stored, row.seq):
                return delivered, False
            delivered += self._deliver(stored, row, functools.partial(setattr, stored, "seq", row.seq))
        return delivered, True

    def _give_up(self, stored: ObserverPosition, next_seq: int) -> bool:
        """A missing seq range before ``next_seq``: wait for it, or give up on it after the gap timeout."""
        start, now = stored.seq + 1, self.clock()
        since = self._gap_since.setdefault(start, now)
        # Nothing read yet: the log need not start at 1 (retention, a reused sequence), so skip to the oldest
        # entry now; anything below it that commits late is still delivered from the skipped range.
        # SQLite serializes writers, so a seq is visible only after every lower one committed: a hole is final.
        waiting = start > 1 and half(connection).CONCURRENT_WRITERS
        if waiting and now - since < self.gap_timeout:
            return False
        del self._gap_since[start]
        stored.skipped = [*stored.skipped, [start, next_seq - 1, now]][-100:]
        log.warning("observer.gap_skipped", observer=self.observer.name, first=start, last=next_seq - 1)
        return True

    def _late(self, stored: ObserverPosition) -> int:
        """Entries that committed after their seq was given up on: delivered now, out of order, once."""
        now = self.clock()
        stored.skipped = [r for r in stored.skipped if now - r[2] < self.late_horizon]
        delivered = 0
        for first, last, _ in list(stored.skipped):
            for row in CheckpointLog.objects.filter(seq__gte=first, seq__lte=last).order_by("seq"):
                delivered += self._deliver(stored, row, functools.partial(_unskip, stored, row.seq))
        return delivered

    def _deliver(self, stored: ObserverPosition, row: CheckpointLog, advance: Callable[[], None]) -> int:
        """Hand ``row`` to the observer (unless filtered or already seen), then ``advance`` the position."""
        if row.checkpoint_id in self._recent_set or not self.observer.wants(row):
            advance()
            return 0
        if self.observer.atomic:
            with transaction.atomic():
                self.observer.fn(row)
                advance()
                stored.save()
        else:
            self.observer.fn(row)
            advance()
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(row.checkpoint_id)
        self._recent_set.add(row.checkpoint_id)
        OBSERVER_DELIVERED.labels(self.observer.name).inc()
        return 1


def _unskip(stored: ObserverPosition, seq: int) -> None:
    """Remove ``seq`` from the skipped ranges once it has been delivered late."""
    ranges: list[list[float]] = []
    for first, last, since in stored.skipped:
        if first <= seq <= last:
            ranges += [[a, b, since] for a, b in ((first, seq - 1), (seq + 1, last)) if a <= b]
        else:
            ranges.append([first, last, since])
    stored.skipped = ranges


def run(stop: threading.Event, names: Sequence[str] | None = None, *, poll_interval: float = 0.5) -> None:
    """Poll every registered observer (or ``names``) until ``stop`` is set, waking early on an in-process commit."""
    readers = [Reader(o) for n, o in registered().items() if names is None or n in names]
    seen = commit_count()
    try:
        while not stop.is_set():
            for reader in readers:
                try:
                    reader.poll()
                except Exception as exc:  # noqa: BLE001  (an observer's failure is retried from its position)
                    log.error("observer.failed", observer=reader.observer.name, error=f"{type(exc).__name__}: {exc}")
            seen = wait_for_commit(seen, poll_interval)
    finally:
        connections.close_all()  # this thread's connections


# -- one trace, live --------------------------------------------------------------------------------------------


def watch_trace(
    trace_id: uuid.UUID, *, active: Callable[[], bool] = lambda: True, poll_interval: float = 0.2
) -> Iterator[CheckpointLog]:
    """Every log entry of one trace once: the stored ones first, then each as it commits (any process).

    The whole trace is re-read on each poll (a trace has tens of entries), so an entry whose seq is lower than
    one already seen, because its transaction committed later, is still delivered; ids deduplicate.
    """
    seen: set[uuid.UUID] = set()
    commits = commit_count()
    while active():
        rows = CheckpointLog.objects.of_trace(trace_id).order_by("seq")
        fresh = [entry for entry in rows if entry.checkpoint_id not in seen]
        for entry in fresh:
            seen.add(entry.checkpoint_id)
            yield entry
        if not fresh:
            commits = wait_for_commit(commits, poll_interval)
            # A busy process commits every few milliseconds: re-read a trace at most 20 times a second.
            time.sleep(min(poll_interval, 0.05))
