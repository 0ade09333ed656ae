"""One live follow per named subscriber, across processes and nodes: a lease row (``SubscriberLease``).

Two follows of the same name would mix their acknowledgements: one could acknowledge past items the other never
processed, and a reconnect from ``acked`` would skip them. So a follow of a named subscriber first takes its lease:
an insert of the subscriber's row, or, when the row's holder let it expire (it died), an update that takes it over.
Both are one statement, so two followers racing for the name cannot both win, on PostgreSQL or SQLite. While the
lease is live, another follow of the name is refused with :class:`SubscriberFollowed` (``ALREADY_EXISTS``, with
the seconds until the lease expires as its retry delay).

The follow renews its lease as it streams (at most every third of ``TPFGO_SUBSCRIBER_LEASE_SECONDS``: on a poll, a
heartbeat or before an item) and deletes it when it ends, so a client that left (and is noticed at the follow's next
poll) frees the name for its reconnect at once. A holder that died without ending (its process killed, its node
lost) leaves a row that expires ``TPFGO_SUBSCRIBER_LEASE_SECONDS`` after its last renewal. A follow that finds its
lease taken by another (it stalled past the expiry, a client that did not read) stops before it sends anything more.
Expiry is written and compared with the database's clock (``Now()`` in the statement that writes or compares it), so
a node whose clock is ahead cannot take over a live lease; a node's own clock only says when it renews.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Now
from django.utils import timezone

from pipelines.contracts.status import Detail, ServiceError
from pipelines.models import Subscriber, SubscriberLease

log = structlog.get_logger("pipelines.subscriptions")
ATTEMPTS = 3  # a lease released between our insert and our take-over is tried for again, this many times in all


class SubscriberFollowed(ServiceError):
    """Another live follow holds this subscriber's name: one follow per name, so acknowledgements never mix."""

    code = "ALREADY_EXISTS"
    reason = "SUBSCRIBER_FOLLOWED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, [Detail("subscriber", self.reason)])
        self.retry_after = retry_after


def lease_seconds() -> float:
    return float(getattr(settings, "TPFGO_SUBSCRIBER_LEASE_SECONDS", 30))


class Lease:
    """The lease one follow holds on ``subscriber``: :meth:`keep` it while streaming, :meth:`release` it at the end."""

    def __init__(self, subscriber: Subscriber, holder: str, seconds: float) -> None:
        self.subscriber, self.holder, self.seconds = subscriber, holder, seconds
        self._renewed_at = timezone.now()
        self._renew_at = self._renewed_at + timedelta(seconds=seconds / 3)
        self._released = False

    def keep(self) -> None:
        """Renew the lease once a third of it has passed, or at once when this node's clock went back since the last
        renewal (NTP stepped it: waiting for it to catch up let the lease expire under this live follow);
        :class:`SubscriberFollowed` if another took it over."""
        now = timezone.now()
        if self._renewed_at <= now < self._renew_at:
            return
        renewed = SubscriberLease.objects.filter(subscriber=self.subscriber, holder=self.holder).update(
            expires_at=_expiry(self.seconds)
        )
        if not renewed:
            log.warning("subscription.lease_lost", subscriber=self.subscriber.name, holder=self.holder)
            raise _followed(self.subscriber, self.seconds)
        self._renewed_at, self._renew_at = now, now + timedelta(seconds=self.seconds / 3)

    def release(self) -> None:
        """Free the name for the next follow (idempotent; a lease already taken over is left to its new holder)."""
        if self._released:
            return
        self._released = True
        try:
            SubscriberLease.objects.filter(subscriber=self.subscriber, holder=self.holder).delete()
        except DatabaseError as exc:  # the database is away: the lease expires by itself
            log.warning("subscription.lease_release_failed", subscriber=self.subscriber.name, error=str(exc))


def take(subscriber: Subscriber) -> Lease:
    """The lease on ``subscriber`` for a new follow, or :class:`SubscriberFollowed` while another follow holds it."""
    seconds = lease_seconds()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    for _ in range(ATTEMPTS):
        try:
            with transaction.atomic():
                SubscriberLease.objects.create(
                    subscriber=subscriber, holder=holder, taken_at=Now(), expires_at=_expiry(seconds)
                )
            return Lease(subscriber, holder, seconds)
        except IntegrityError:  # a row is there: take it over only if it expired (its holder died)
            pass
        expired = SubscriberLease.objects.filter(subscriber=subscriber, expires_at__lte=Now())
        if expired.update(holder=holder, taken_at=Now(), expires_at=_expiry(seconds)):
            log.info("subscription.lease_taken_over", subscriber=subscriber.name, holder=holder)
            return Lease(subscriber, holder, seconds)
        live = SubscriberLease.objects.filter(subscriber=subscriber).values_list("expires_at", Now()).first()
        if live is not None:
            raise _followed(subscriber, (live[0] - live[1]).total_seconds())
    raise _followed(subscriber, seconds)  # taken and released over and over: busy all the same


def _expiry(seconds: float) -> CombinedExpression:
    """``seconds`` from now by the database's clock, so every node compares expiries with the one clock."""
    return Now() + timedelta(seconds=seconds)


def _followed(subscriber: Subscriber, retry_after: float) -> SubscriberFollowed:
    return SubscriberFollowed(
        f"subscriber {subscriber.name!r} of {subscriber.publication} is followed by another live follow; one follow "
        f"per subscriber name (its lease expires within {lease_seconds():g} s of its follow's end)",
        retry_after=max(1.0, retry_after),
    )
