"""Following the checkpoint log: a subscriber's read of one publication's logged checkpoints, in log order, as the
transport asks for them (``pipelines.transport.subscriptions`` checks a subscribe and opens it; this reads).

**Positions.** ``seq`` is where an item sits in the log; ``position`` is where a subscriber that has processed
it may resume from: every log entry at or below it was delivered or is final. The two differ only around a
*gap*: a log seq is taken when its row is inserted, before its transaction commits, so a later seq can become
visible first. A :class:`Follow` waits up to ``TPFGO_OBSERVER_GAP_TIMEOUT`` seconds for a missing seq (so
delivery stays in log order in the usual case), then goes on past it but keeps the gap open for
``TPFGO_OBSERVER_LATE_HORIZON`` seconds: a row that commits late in it is delivered then, out of order, and
``position`` stays below the oldest open gap until it closes. Resuming from an acknowledged ``position`` therefore
never skips a late row; it may repeat the items delivered past an open gap, which the checkpoint id
deduplicates (at-least-once, deduplicable).

**Flow.** A follow reads at most ``buffer`` log rows per poll and hands them out one by one; the next poll runs
only when the transport asks for more, i.e. when the client has read them (gRPC flow control, HTTP write
blocking). What is read and not yet sent is the ``tpfgo_subscription_buffered`` gauge.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.conf import settings
from django.db import connection
from django.db.models import Q
from prometheus_client import Counter

from pipelines.contracts.declarations import Publication
from pipelines.contracts.fields import wire
from pipelines.engine import metrics
from pipelines.engine.registry import checkpoint_models
from pipelines.models import CheckpointLog
from pipelines.store.store import store
from pipelines.transport import subscriber_leases

log = structlog.get_logger("pipelines.subscriptions")
MAX_GAPS = 1000  # open gaps kept per follow; beyond it the oldest is given up (logged)
ITEMS_SENT = Counter("tpfgo_subscription_items_total", "Checkpoints sent to remote subscribers.", ["publication"])
metrics.describe("tpfgo_subscription_buffered", "gauge", "Items read from the log, not yet sent (this process).")
_buffered: dict[str, int] = {}
_buffered_lock = threading.Lock()


def _buffer(publication_name: str, change: int) -> None:
    with _buffered_lock:
        _buffered[publication_name] = _buffered.get(publication_name, 0) + change


def buffered() -> dict[str, int]:
    """Items read and not yet sent, per publication, in this process (each follow holds at most its buffer)."""
    with _buffered_lock:
        return dict(_buffered)


def _collect() -> list[metrics.Sample]:
    pid = str(os.getpid())
    return [
        ("tpfgo_subscription_buffered", {"publication": name, "pid": pid}, float(count))
        for name, count in sorted(buffered().items())
    ]


metrics.register_collector(_collect, own=True)


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


@dataclass(frozen=True)
class Item:
    """One checkpoint of the followed publication, on the wire as :meth:`wire`."""

    seq: int
    position: int
    publication: str
    checkpoint_type: str
    checkpoint_id: uuid.UUID
    trace_id: uuid.UUID
    created_at: str
    payload: Mapping[str, Any]

    def wire(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "position": self.position,
            "publication": self.publication,
            "checkpointType": self.checkpoint_type,
            "checkpointId": str(self.checkpoint_id),
            "traceId": str(self.trace_id),
            "createdAt": self.created_at,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True)
class Heartbeat:
    """Sent when nothing was delivered for a while: the position to acknowledge still moves."""

    position: int

    def wire(self) -> dict[str, Any]:
        return {"heartbeat": True, "position": self.position}


@dataclass
class Gap:
    first: int
    last: int
    since: float


@dataclass
class Follow:
    """One subscriber's read of the log: ``high`` is the highest seq read, ``gaps`` the open holes below it."""

    publication: Publication
    high: int
    buffer: int = field(default_factory=lambda: int(_setting("TPFGO_SUBSCRIPTION_BUFFER", 100)))
    gap_timeout: float = field(default_factory=lambda: _setting("TPFGO_OBSERVER_GAP_TIMEOUT", 10.0))
    late_horizon: float = field(default_factory=lambda: _setting("TPFGO_OBSERVER_LATE_HORIZON", 300.0))
    clock: Callable[[], float] = time.time
    gaps: list[Gap] = field(default_factory=list)
    _waiting_since: dict[int, float] = field(default_factory=dict)
    _fresh: bool = False

    def __post_init__(self) -> None:
        # From the start of the log: holes below the first row read are final (retention, a reused sequence).
        self._fresh = self.high == 0

    @property
    def position(self) -> int:
        """Every log entry at or below this is delivered or final: where an acknowledging subscriber resumes."""
        return min(gap.first for gap in self.gaps) - 1 if self.gaps else self.high

    def poll(self) -> list[Item]:
        """Every item deliverable now, at most ``buffer`` (late rows in open gaps first, then new rows)."""
        found = self._late()
        if len(found) < self.buffer:
            found += self._new(self.buffer - len(found))
        return self._items(found)

    def _late(self) -> list[tuple[CheckpointLog, int]]:
        now = self.clock()
        expired = [gap for gap in self.gaps if now - gap.since >= self.late_horizon]
        for gap in expired:
            log.info("subscription.gap_closed", publication=self.publication.name, first=gap.first, last=gap.last)
            self.gaps.remove(gap)
        if not self.gaps:
            return []
        found = []
        for row in self._in_gaps().order_by("seq")[: self.buffer]:
            self._fill(row.seq)
            if row.publication == self.publication.name:
                found.append((row, self.position))
        return found

    def _in_gaps(self) -> Any:
        condition = Q()
        for gap in self.gaps:
            condition |= Q(seq__gte=gap.first, seq__lte=gap.last)
        return CheckpointLog.objects.filter(condition)

    def _fill(self, seq: int) -> None:
        """``seq`` committed late: split its gap around it."""
        for gap in list(self.gaps):
            if gap.first <= seq <= gap.last:
                index = self.gaps.index(gap)
                parts = [Gap(a, b, gap.since) for a, b in ((gap.first, seq - 1), (seq + 1, gap.last)) if a <= b]
                self.gaps[index : index + 1] = parts
                return

    def _new(self, room: int) -> list[tuple[CheckpointLog, int]]:
        rows = list(CheckpointLog.objects.filter(seq__gt=self.high).order_by("seq")[:room])
        found = []
        for row in rows:
            if row.seq != self.high + 1 and not self._past_hole(row.seq):
                break
            self.high, self._fresh = row.seq, False
            if row.publication == self.publication.name:
                # Read in order: everything at or below this position was handed out before this item.
                found.append((row, self.position))
        return found

    def _past_hole(self, next_seq: int) -> bool:
        """A hole before ``next_seq``: wait for it up to the gap timeout, then go on with it open (or final)."""
        first, now = self.high + 1, self.clock()
        # SQLite serializes writers: a seq is visible only once every lower one committed, so a hole is final.
        final = self._fresh or not store.concurrent_writers(connection)
        if not final:
            since = self._waiting_since.setdefault(first, now)
            if now - since < self.gap_timeout:
                return False
            self.gaps.append(Gap(first, next_seq - 1, since))
            if len(self.gaps) > MAX_GAPS:
                oldest = self.gaps.pop(0)
                log.warning("subscription.gap_dropped", publication=self.publication.name, first=oldest.first)
            log.warning("subscription.gap_open", publication=self.publication.name, first=first, last=next_seq - 1)
        self._waiting_since.pop(first, None)
        return True

    def _items(self, found: list[tuple[CheckpointLog, int]]) -> list[Item]:
        """The items of ``found``, their checkpoints read in one query per checkpoint type."""
        by_type: dict[str, list[uuid.UUID]] = {}
        for row, _ in found:
            by_type.setdefault(row.checkpoint_type, []).append(row.checkpoint_id)
        models = checkpoint_models()
        stored = {}
        for name, ids in by_type.items():
            stored.update(models[name].objects.in_bulk(ids))
        contract = self.publication.contract
        return [
            Item(
                seq=row.seq,
                position=position,
                publication=row.publication,
                checkpoint_type=row.checkpoint_type,
                checkpoint_id=row.checkpoint_id,
                trace_id=row.trace_id,
                created_at=wire(row.created_at),
                payload=contract.payload(stored[row.checkpoint_id]) if row.checkpoint_id in stored else {},
            )
            for row, position in found
        ]


def follow(
    found: Publication,
    start: int,
    *,
    active: Callable[[], bool] = lambda: True,
    poll_interval: float | None = None,
    heartbeat: float | None = None,
    until_idle: bool = False,
    lease: subscriber_leases.Lease | None = None,
    authenticated: Callable[[], None] = lambda: None,
) -> Generator[Item | Heartbeat, None, None]:
    """Items of ``found`` after ``start``, as the transport asks for them; a heartbeat when idle, and at once when
    the first read found nothing to send (so a client knows it was admitted, not only a heartbeat period later).

    ``until_idle`` ends the follow once everything committed so far was delivered (a catch-up read). A named
    subscriber's ``lease`` is renewed as the follow goes (before each line: nothing is sent once another follow took
    it over) and released when it ends. ``authenticated`` (a transport's check of the caller's token) is asked
    before each read of the log and raises to end the follow: a token revoked while it streams gets nothing read
    after that (a follow may last for days).
    """
    keep = lease.keep if lease is not None else lambda: None
    poll_every = poll_interval if poll_interval is not None else _setting("TPFGO_SUBSCRIPTION_POLL_SECONDS", 0.5)
    beat_every = heartbeat if heartbeat is not None else _setting("TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS", 15.0)
    cursor = Follow(found, start)
    # Nothing sent yet: the first time the follow finds nothing to send, it sends a heartbeat at once.
    commits, last_sent, last_position = store.commit_count(), -math.inf, cursor.position
    held = 0  # items read and not yet taken by the transport
    try:
        while active():
            authenticated()
            read_to = cursor.high
            batch = cursor.poll()
            held = len(batch)
            _buffer(found.name, held)
            for item in batch:
                keep()
                held -= 1
                _buffer(found.name, -1)
                ITEMS_SENT.labels(found.name).inc()
                yield item
            if batch:
                last_sent, last_position = time.monotonic(), cursor.position
            if batch or cursor.high != read_to:  # rows were read (perhaps none of ours): there may be more at once
                continue
            if until_idle and not cursor.gaps:
                return
            if cursor.position != last_position or time.monotonic() - last_sent >= beat_every:
                keep()
                last_sent, last_position = time.monotonic(), cursor.position
                yield Heartbeat(cursor.position)
            commits = store.wait_for_commit(commits, poll_every)
            keep()
    finally:
        _buffer(found.name, -held)
        if lease is not None:
            lease.release()
