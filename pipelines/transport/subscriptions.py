"""Remote subscription: another service follows one publication's checkpoints from a position in the checkpoint log.

The checkpoint log (``CheckpointLog``) is an ordered, immutable outbox: every checkpoint is logged, with the
publication it was handed off under, in the transaction that inserts it. A subscriber names a publication (with
its ``.vN``) and a start (a position, ``acked`` for its own newest acknowledgement, ``now`` or ``0`` for
everything kept) and receives each logged checkpoint of that publication as an :class:`Item`: its contract's
fields, its checkpoint id, trace id, log ``seq`` and the ``position`` to acknowledge.

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
blocking). Each process serves at most ``TPFGO_SUBSCRIBERS_PER_PROCESS`` follows at once; beyond that a
subscribe is refused with ``RESOURCE_EXHAUSTED``. A named subscriber is followed by at most one live follow at a time,
across processes and nodes (its lease, ``pipelines.transport.subscriber_leases``); another is refused with
``ALREADY_EXISTS``.
"""

from __future__ import annotations

import difflib
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
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Q
from prometheus_client import Counter

from pipelines.contracts.declarations import Publication
from pipelines.contracts.fields import wire
from pipelines.contracts.lock import Entry, diff, entry_for, malformed
from pipelines.contracts.status import Detail, FailedPrecondition, InvalidArgument, NotFound, ServiceError
from pipelines.engine import metrics
from pipelines.engine.registry import checkpoint_models, composition
from pipelines.engine.stream_gauges import Admission, admission
from pipelines.models import CheckpointLog, Subscriber, SubscriberAck
from pipelines.store import clock
from pipelines.store.store import store
from pipelines.transport import input_limits, subscriber_leases
from pipelines.transport.wire_errors import WireError

log = structlog.get_logger("pipelines.subscriptions")
STREAM = "subscription"
MAX_GAPS = 1000  # open gaps kept per follow; beyond it the oldest is given up (logged)
ITEMS_SENT = Counter("tpfgo_subscription_items_total", "Checkpoints sent to remote subscribers.", ["publication"])
REFUSED = Counter("tpfgo_subscription_refused_total", "Subscribe calls refused, per reason.", ["reason"])
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


class PositionExpired(ServiceError):
    """A start position older than what the log still keeps: items after it may be gone."""

    code = "FAILED_PRECONDITION"
    reason = "POSITION_EXPIRED"


class PositionAhead(InvalidArgument):
    """A position above every log seq this database ever issued: the client kept it from a database this one does
    not continue (restored from a backup taken before it was given out, or another deployment's)."""

    reason = "POSITION_AHEAD"
    # After the message: what the client and its operator do about it (docs/operations.md, "Backup and restore").
    HINT = (
        "the position was given out by a database this one does not continue (restored from an older backup?); "
        "resume from 'acked' or 0 and deduplicate by checkpointId"
    )


def _ahead(what: str, publication_name: str, subscriber: str | None, position: int, issued: int) -> None:
    """Log a position from ahead of this database's log: after a restore, its clients' kept positions show up here."""
    log.warning(
        "subscription.position_ahead",
        call=what,
        publication=publication_name,
        subscriber=subscriber,
        position=position,
        issued=issued,
    )


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def gate() -> Admission:
    return admission(STREAM, int(_setting("TPFGO_SUBSCRIBERS_PER_PROCESS", 2)))


def admit() -> Any:
    """A ticket for one more follow in this process, or RESOURCE_EXHAUSTED with a retry delay."""
    ticket = gate().try_enter()
    if ticket is None:
        REFUSED.labels("RESOURCE_EXHAUSTED").inc()
        raise WireError(
            "RESOURCE_EXHAUSTED",
            f"this process already serves {gate().capacity} subscribers; retry later",
            retry_after=_setting("TPFGO_INGEST_RETRY_AFTER", 1),
        )
    return ticket


# -- what may be followed ---------------------------------------------------------------------------------------
def publication(name: str) -> Publication:
    """The publication called ``name`` (with its ``.vN``), else NOT_FOUND naming the closest ones."""
    published = composition().publications()
    if name in published:
        return published[name][1]
    close = difflib.get_close_matches(name, list(published), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise NotFound(f"no publication named {name!r}{hint}", [Detail("publication", "unknown publication")])


def check_contract(found: Publication, expected: Any) -> None:
    """Refuse a subscriber whose expected contract differs, with the diagnostics of ``check_contracts``.

    ``expected`` is None (no expectation beyond the name's ``.vN``) or a lock entry (``contracts.lock.json``'s
    shape: ``{contract, version, fields}``). A field the server added is no mismatch; every breaking change is.
    """
    if expected is None:
        return
    problem = malformed(expected)
    if problem is not None:
        raise InvalidArgument(f"the expected contract is malformed: {problem}", [Detail("expect", problem)])
    breaking = [change.text for change in diff(expected, entry_for(found)) if change.breaking]
    if breaking:
        REFUSED.labels("CONTRACT_MISMATCH").inc()
        raise FailedPrecondition(
            f"publication {found.name} does not carry the contract this subscriber expects: {'; '.join(breaking)}",
            [Detail("expect", text) for text in breaking],
        )


def contract_entry(found: Publication) -> Entry:
    """What a subscriber should expect of ``found``: its entry as the contracts lock records it."""
    return entry_for(found)


# -- subscribers and their acknowledgements ---------------------------------------------------------------------
def _subscriber_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or input_limits.text_issue(name, 200) is not None:
        raise InvalidArgument(
            "subscriber must be a name of 1 to 200 characters, without control characters",
            [Detail("subscriber", "1 to 200 characters, no control characters")],
        )
    return name.strip()


def register(name: object, found: Publication) -> Subscriber:
    """The subscriber ``name`` of ``found``, recorded at its first connect (a unique insert; a race reads back)."""
    name = _subscriber_name(name)
    existing = Subscriber.objects.filter(name=name, publication=found.name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Subscriber.objects.create(
                name=name, publication=found.name, contract_version=found.version, created_at=clock.reckoned()
            )
    except IntegrityError:  # the unique insert lost to a concurrent first connect: read the winner
        winner = Subscriber.objects.filter(name=name, publication=found.name).first()
        if winner is None:
            raise
        return winner


def acked_position(subscriber: Subscriber) -> int:
    found = SubscriberAck.objects.filter(subscriber=subscriber).aggregate(p=Max("position"))["p"]
    return int(found or 0)


def acknowledge(name: object, publication_name: object, position: object) -> int:
    """Record that ``name`` processed everything of the publication up to ``position``; returns its position."""
    if not isinstance(publication_name, str) or not publication_name:
        raise InvalidArgument("publication is required", [Detail("publication", "required")])
    found = publication(publication_name)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidArgument("position must be a non-negative integer", [Detail("position", "not a position")])
    # Not the log's head: the retention purge may have removed the newest entries after they were delivered (a
    # quiet system), and their positions are still the subscriber's to acknowledge.
    issued = store.log_seqs_issued(connection)
    if position > issued:
        _ahead("ack", found.name, name if isinstance(name, str) else None, position, issued)
        raise PositionAhead(
            f"position {position} is past the log's head ({issued}, the highest position ever issued): "
            + PositionAhead.HINT,
            [Detail("position", PositionAhead.reason)],
        )
    subscriber = register(name, found)
    # The database's time, as the console's "last acknowledged" is read beside the others' (pipelines.store.clock)
    SubscriberAck.objects.create(subscriber=subscriber, position=position, created_at=clock.reckoned())
    return max(position, acked_position(subscriber))


def start_position(start: Any, subscriber: Subscriber | None) -> int:
    """Where a follow starts: ``0``/``start`` (all kept), ``now`` (the head), ``acked`` or a position."""
    words = isinstance(start, str) and (start in ("", "start", "now", "acked") or (start.isascii() and start.isdigit()))
    if not (start is None or words or (isinstance(start, int) and not isinstance(start, bool))):
        # not true, 1.5, " 0" or another script's digits: a position is an integer, or its ASCII digits
        raise InvalidArgument("start must be a position, 'acked', 'now' or 0", [Detail("start", "not a position")])
    bounds = CheckpointLog.objects.aggregate(oldest=Min("seq"), head=Max("seq"))
    head = int(bounds["head"] or 0)
    if start in (None, "", "start", 0, "0"):
        return 0
    if start == "now":
        return head
    if start == "acked":  # a subscriber never seen before starts from the beginning
        position = acked_position(subscriber) if subscriber is not None else 0
    else:
        try:
            position = int(start)
        except (TypeError, ValueError):
            raise InvalidArgument(
                "start must be a position, 'acked', 'now' or 0", [Detail("start", "not a position")]
            ) from None
    # A position given out (acknowledged, or kept by the client) was at most the head then; the retention purge may
    # have removed the log's newest entries since (a quiet system), and the seqs that come next are above it: follow
    # from there. Beyond the highest seq ever issued is no position at all.
    ceiling = head
    if position > head:
        ceiling = position if start == "acked" else store.log_seqs_issued(connection)
    if position > ceiling and start != "acked":  # above the highest seq ever issued (the ceiling, here)
        raise PositionAhead(
            f"start {position} is outside the log (0..{ceiling}): " + PositionAhead.HINT,
            [Detail("start", PositionAhead.reason)],
        )
    if position < 0 or position > ceiling:
        raise InvalidArgument(f"start {position} is outside the log (0..{ceiling})", [Detail("start", "outside")])
    oldest = bounds["oldest"]
    if position and oldest is not None and position + 1 < oldest:
        REFUSED.labels(PositionExpired.reason).inc()
        raise PositionExpired(
            f"position {position} is older than the oldest entry the log keeps ({oldest}); resubscribe from 0",
            [Detail("start", PositionExpired.reason)],
        )
    return position


# -- following the log -------------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class Opened:
    """A follow ready to stream: its publication, subscriber (if named) and first position."""

    publication: Publication
    subscriber: Subscriber | None
    start: int
    ticket: Any = None  # the admission's, when ``open_follow`` was given ``admit``
    lease: subscriber_leases.Lease | None = None  # a named subscriber's, held until the follow ends

    def release(self) -> None:
        """Free what the follow holds: its admission slot and its subscriber's name (idempotent)."""
        try:
            if self.lease is not None:
                self.lease.release()
        finally:
            if self.ticket is not None:
                self.ticket.release()


def open_follow(
    publication_name: object,
    *,
    subscriber: object = None,
    start: object = None,
    expect: object = None,
    admit: Callable[[], Any] | None = None,
) -> Opened:
    """Check everything a subscribe needs before the first item (publication, contract, start), then take
    ``admit``'s ticket when given (a transport's: RESOURCE_EXHAUSTED when this process is full), then record the
    subscriber and take its lease (ALREADY_EXISTS while another follow of the name is live): a refused subscribe
    stores nothing. The caller releases what it holds (``Opened.release``; ``follow`` given the lease does too).

    ``start=acked`` is read again once the lease is held: the follow that held it before may have recorded a newer
    acknowledgement as it ended, after the first read (which only checks the start before any ticket is taken)."""
    if not isinstance(publication_name, str) or not publication_name:
        raise InvalidArgument("publication is required", [Detail("publication", "required")])
    found = publication(publication_name)
    check_contract(found, expect)
    name = _subscriber_name(subscriber) if subscriber not in (None, "") else None
    known = Subscriber.objects.filter(name=name, publication=found.name).first() if name else None
    if start == "acked" and name is None:
        raise InvalidArgument("start=acked needs a subscriber name", [Detail("subscriber", "required")])
    try:
        first = start_position(start, known)
    except PositionAhead as exc:
        REFUSED.labels(exc.reason).inc()
        _ahead("subscribe", found.name, name, int(str(start)), store.log_seqs_issued(connection))
        raise
    ticket = admit() if admit is not None else None
    lease = None
    try:
        named = register(name, found) if name else None
        lease = subscriber_leases.take(named) if named else None
        if start == "acked":
            first = start_position(start, named)
    except BaseException as exc:
        if isinstance(exc, subscriber_leases.SubscriberFollowed):
            REFUSED.labels(exc.reason).inc()
        Opened(found, None, first, ticket, lease).release()
        raise
    return Opened(found, named, first, ticket, lease)
