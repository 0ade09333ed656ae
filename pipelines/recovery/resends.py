"""What the sweeper sent for lost work, so that it sends the same work again only on a growing interval.

The sweeper finds a resume or an attempt "lost" when no worker has claimed it a grace period after it was due. Its
message may be lost (a flushed broker), or only waiting behind a long backlog (after an outage, under load). The
sweeper cannot tell which, so it sends again; but sending again on every sweep while the first message still waits
lengthens the backlog it is waiting behind: each copy is a task run that answers ``claimed-elsewhere``.

So each send is recorded (``SweepDispatch``, one insert-only row per send) with the time the next one becomes due:
``TPFGO_SWEEP_RESEND_SECONDS`` after the first send (unset: the grace period), twice that after the second, and so
on up to ``TPFGO_SWEEP_RESEND_MAX_SECONDS`` (unset: the claim timeout). A lost message is still sent again within
one interval; work waiting behind a backlog of an hour has seven copies with the defaults (sent at 0, 120, 360,
840, 1,740, 2,640 and 3,540 s), not one per sweep (120). Work a worker has claimed leaves the sweeper's queries,
so its rows only age (retention's ``sweep_ticks`` policy removes them with the sweep slots).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef

from pipelines.models import SweepDispatch
from pipelines.recovery import resume as recovery

Key = tuple[uuid.UUID, int]


def first_interval() -> datetime.timedelta:
    seconds = getattr(settings, "TPFGO_SWEEP_RESEND_SECONDS", None)
    return datetime.timedelta(seconds=float(seconds)) if seconds is not None else recovery.grace()


def longest_interval() -> datetime.timedelta:
    seconds = getattr(settings, "TPFGO_SWEEP_RESEND_MAX_SECONDS", None)
    return datetime.timedelta(seconds=float(seconds)) if seconds is not None else recovery.claim_timeout()


def interval(send: int) -> datetime.timedelta:
    """How long after send ``send`` (1, 2, …) the work may be sent again."""
    first = first_interval()
    longest: datetime.timedelta = max(longest_interval(), first)
    return min(first * (1 << min(send - 1, 32)), longest)


def waiting(kind: str, subject: OuterRef, number: OuterRef, now: datetime.datetime) -> Exists:
    """A subquery for the sweeper's queries: the work was sent and its next send is not due yet."""
    return Exists(SweepDispatch.objects.filter(kind=kind, subject=subject, number=number, resend_at__gt=now))


def due(
    kind: str, keys: Iterable[Key], now: datetime.datetime, taken: Mapping[Key, datetime.datetime] | None = None
) -> dict[Key, int]:
    """Of ``keys`` (in their order), those whose next send is due, each with that send's number. ``taken``: when a
    worker took the work up (claimed it); a send before that reached its worker, so the next one is due at once."""
    keys = list(dict.fromkeys(keys))
    rows = SweepDispatch.objects.filter(kind=kind, subject__in={subject for subject, _ in keys})
    sent = {
        (subject, number): (sends, resend_at, last)
        for subject, number, sends, resend_at, last in rows.values("subject", "number")
        .annotate(sends=Max("send"), resend_at=Max("resend_at"), last=Max("created_at"))
        .values_list("subject", "number", "sends", "resend_at", "last")
    }
    chosen = {}
    for key in keys:
        sends, resend_at, last = sent.get(key, (0, None, None))
        claimed = (taken or {}).get(key)
        if resend_at is None or resend_at <= now or (claimed is not None and claimed >= last):
            chosen[key] = sends + 1
    return chosen


def dispatch(
    kind: str,
    keys: Iterable[Key],
    now: datetime.datetime,
    send: Callable[[Key], bool | None],
    taken: Mapping[Key, datetime.datetime] | None = None,
) -> list[Key]:
    """Send each key whose next send is due (``send`` returns False when the broker refused the message: then
    nothing is recorded and the next sweep sends it again); returns the keys sent."""
    done = []
    for key, number in due(kind, keys, now, taken).items():
        if send(key) is False:
            continue
        record(kind, key, number, now)
        done.append(key)
    return done


def record(kind: str, key: Key, send: int, now: datetime.datetime) -> None:
    """Send ``send`` of the work was made at ``now``. A second sweeper that recorded the same send number first
    (a manual ``manage.py sweep`` beside beat's) wins: this one's copy is one more harmless duplicate."""
    subject, number = key
    try:
        with transaction.atomic():
            SweepDispatch.objects.create(
                kind=kind,
                subject=subject,
                number=number,
                send=send,
                created_at=now,
                resend_at=now + interval(send),
            )
    except IntegrityError:
        pass
