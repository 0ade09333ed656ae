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

Behind a backlog longer than the longest interval that would still be a copy per interval. So the sweeper also asks
the broker how many messages wait in the queue the work goes to (``depth``: kombu's passive declare, Redis's
``LLEN``, RabbitMQ's ready count, the filesystem broker's files) and, while it holds at least
``TPFGO_SWEEP_RESEND_HOLD_DEPTH`` messages, holds every send whose earlier message may be among them (``Backlog``):
nothing is sent or recorded, and the send goes out on the first sweep after the queue has drained below the bound.
A send no earlier message can be waiting for goes out whatever the depth: a position's first resume (a crash left
it; nothing was sent) and work a worker took up after its last send (its message arrived; the run died). When the
broker cannot say, nothing is held: the send itself then meets the broker's answer.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import structlog
from amqp.exceptions import ChannelError
from celery import Celery, current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef

from pipelines.models import SweepDispatch
from pipelines.recovery import resume as recovery

log = structlog.get_logger("pipelines.sweeper")

Key = tuple[uuid.UUID, int]

# The task each kind of work is sent as, and the hook that sends it (an empty hook runs it in the sweeper).
TASKS = {SweepDispatch.RETRY: "pipelines.retry_parked", SweepDispatch.RESUME: "pipelines.resume_trace"}
HOOKS = {
    SweepDispatch.RETRY: ("TPFGO_RETRY_ENQUEUE", "pipelines.tasks.enqueue_retry"),
    SweepDispatch.RESUME: ("TPFGO_RESUME_ENQUEUE", "pipelines.tasks.enqueue_resume"),
}


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


def hold_depth() -> int:
    """``TPFGO_SWEEP_RESEND_HOLD_DEPTH``: the queue depth from which the sweeper holds its copies (0: never holds)."""
    return int(getattr(settings, "TPFGO_SWEEP_RESEND_HOLD_DEPTH", 1000) or 0)


def queue_of(task: str, app: Celery | None = None) -> str:
    """The queue Celery routes ``task`` to (``CELERY_TASK_ROUTES``, else the default queue)."""
    name: str = (app or current_app).amqp.router.route({}, task)["queue"].name
    return name


def queue_depth(task: str, app: Celery | None = None) -> tuple[str, int | None]:
    """The queue Celery routes ``task`` to, and how many messages wait in it (``depth``)."""
    name = queue_of(task, app)
    return name, depth(name, app)


def depth(queue: str, app: Celery | None = None) -> int | None:
    """How many messages wait in ``queue``, as the broker counts them (None: the broker did not answer). A queue the
    broker does not know is empty (Redis drops an emptied list)."""
    try:
        with (app or current_app).connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0)
            try:
                found: int = conn.default_channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError as exc:
                if str(getattr(exc, "reply_code", "")) != "404":  # kombu's virtual transports give it as text
                    raise
                found = 0
    except Exception as exc:  # noqa: BLE001  (unknown depth: hold nothing; the sends meet the broker themselves)
        log.warning("sweep.queue_depth_unknown", queue=queue, error=f"{type(exc).__name__}: {exc}"[:200])
        return None
    return found


@dataclass
class Backlog:
    """What the sweeper learnt of its queues in one sweep: each queue's depth, read (``depth``) once, before the
    sweep's own sends could count, and only when a send might be held."""

    depths: dict[str, int | None] = field(default_factory=dict)

    def deep(self, kind: str) -> tuple[str, int] | None:
        """The queue ``kind``'s work goes to and its depth, when it holds at least ``hold_depth()`` messages."""
        setting, default = HOOKS[kind]
        if not getattr(settings, setting, default):
            return None
        return self.holds(queue_of(TASKS[kind]))

    def holds(self, queue: str) -> tuple[str, int] | None:
        """``queue`` and its depth, when it holds at least ``hold_depth()`` messages (read once per sweep)."""
        bound = hold_depth()
        if not bound:
            return None
        if queue not in self.depths:
            self.depths[queue] = depth(queue)
        found = self.depths[queue]
        return (queue, found) if found is not None and found >= bound else None

    def deep_queues(self) -> dict[str, int]:
        """Every queue read in this sweep that holds at least ``hold_depth()`` messages, with its depth."""
        return dict(found for queue in self.depths if (found := self.holds(queue)))


def waiting(kind: str, subject: OuterRef, number: OuterRef, now: datetime.datetime) -> Exists:
    """A subquery for the sweeper's queries: the work was sent and its next send is not due yet."""
    return Exists(SweepDispatch.objects.filter(kind=kind, subject=subject, number=number, resend_at__gt=now))


@dataclass
class Due:
    """The keys to send now, each with its send's number, and the keys due but held behind a deep queue."""

    send: dict[Key, int]
    held: list[Key]


def due(
    kind: str,
    keys: Iterable[Key],
    now: datetime.datetime,
    taken: Mapping[Key, datetime.datetime] | None = None,
    backlog: Backlog | None = None,
) -> Due:
    """Of ``keys`` (in their order), those whose next send is due, each with that send's number. ``taken``: when a
    worker took the work up (claimed it); a send before that reached its worker, so the next one is due at once.
    ``backlog``: hold a send whose earlier message may still wait in a deep queue (a retry's first copy too: its
    attempt's own message was sent when it was scheduled)."""
    keys = list(dict.fromkeys(keys))
    rows = SweepDispatch.objects.filter(kind=kind, subject__in={subject for subject, _ in keys})
    sent = {
        (subject, number): (sends, resend_at, last)
        for subject, number, sends, resend_at, last in rows.values("subject", "number")
        .annotate(sends=Max("send"), resend_at=Max("resend_at"), last=Max("created_at"))
        .values_list("subject", "number", "sends", "resend_at", "last")
    }
    out = Due({}, [])
    for key in keys:
        sends, resend_at, last = sent.get(key, (0, None, None))
        claimed = (taken or {}).get(key)
        arrived = claimed is not None and (last is None or claimed >= last)
        if not (resend_at is None or resend_at <= now or arrived):
            continue
        earlier = (kind == SweepDispatch.RETRY or sends > 0) and not arrived
        if earlier and backlog is not None and backlog.deep(kind) is not None:
            out.held.append(key)
        else:
            out.send[key] = sends + 1
    return out


def dispatch(
    kind: str,
    keys: Iterable[Key],
    now: datetime.datetime,
    send: Callable[[Key], bool | None],
    taken: Mapping[Key, datetime.datetime] | None = None,
    backlog: Backlog | None = None,
) -> Due:
    """Send each key whose next send is due and not held (``send`` returns False when the broker refused the
    message: then nothing is recorded and the next sweep sends it again); the keys sent, and those held."""
    chosen = due(kind, keys, now, taken, backlog)
    done = Due({}, chosen.held)
    for key, number in chosen.send.items():
        if send(key) is False:
            continue
        record(kind, key, number, now)
        done.send[key] = number
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
