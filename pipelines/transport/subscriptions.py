"""Remote subscription: another service follows one publication's checkpoints from a position in the checkpoint log.

The checkpoint log (``CheckpointLog``) is an ordered, immutable outbox: every checkpoint is logged, with the
publication it was handed off under, in the transaction that inserts it. A subscriber names a publication (with
its ``.vN``) and a start (a position, ``acked`` for its own newest acknowledgement, ``now`` or ``0`` for
everything kept) and receives each logged checkpoint of that publication as an ``Item``: its contract's
fields, its checkpoint id, trace id, log ``seq`` and the ``position`` to acknowledge. This module checks and
opens a subscribe and records acknowledgements; ``pipelines.transport.subscription_follow`` reads the log.

**Admission.** Each process serves at most ``TPFGO_SUBSCRIBERS_PER_PROCESS`` follows at once; beyond that a
subscribe is refused with ``RESOURCE_EXHAUSTED``. A named subscriber is followed by at most one live follow at a time,
across processes and nodes (its lease, ``pipelines.transport.subscriber_leases``); another is refused with
``ALREADY_EXISTS``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min
from prometheus_client import Counter

from pipelines.contracts.declarations import Publication
from pipelines.contracts.lock import Entry, diff, entry_for, malformed
from pipelines.contracts.status import Detail, FailedPrecondition, InvalidArgument, NotFound, ServiceError
from pipelines.engine.registry import composition
from pipelines.engine.stream_gauges import Admission, admission
from pipelines.models import CheckpointLog, Subscriber, SubscriberAck
from pipelines.store import clock
from pipelines.store.store import store
from pipelines.transport import input_limits, subscriber_leases
from pipelines.transport.wire_errors import WireError

log = structlog.get_logger("pipelines.subscriptions")
STREAM = "subscription"
REFUSED = Counter("tpfgo_subscription_refused_total", "Subscribe calls refused, per reason.", ["reason"])


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
    stores nothing. The caller releases what it holds (``Opened.release``; ``subscription_follow.follow`` given the
    lease does too).

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
