"""The sweeper (Celery beat, ``pipelines.sweep``): the database, not the broker, is the source of truth.

Four passes, each a bounded query (a ``created_at``/``due_at`` window, indexed, and a batch limit), so a sweep
costs the same whatever the history:

1. **lost messages** — a scheduled attempt overdue by more than the grace period that no worker claimed (its
   broker message was lost: Redis flushed or restarted) is enqueued again, and so is a held item released by a
   paused step's drain (``pipelines.recovery.drain``); a resumed pause whose drain task was lost drains on;
2. **lost attempts** — a claim older than the claim timeout with nothing after it (no outcome, no next attempt:
   the worker died mid-attempt and the redelivered message found the claim taken) gets the next attempt, or a
   dead letter once the item already had one attempt more than its policy allows; on PostgreSQL so does a claim
   older than ``TPFGO_SWEEP_ORPHAN_SECONDS`` whose run has ended (its lock is free: ``pipelines.store.claim_locks``);
3. **partial progress** — traces a crash left between two checkpoints are resumed (``pipelines.recovery.resume``),
   and, on PostgreSQL, positions whose resume has ended without finishing, as for attempts; a fork a crash cut off
   where the frontier does not hold it is taken up on its branch (``pipelines.recovery.forks``);
4. **aux branches** — optional aux branches a crash left unwritten after their primary committed are written
   (``pipelines.recovery.aux_branches``);
5. **queued hand-offs** — a hand-off of a ``queue`` publication still pending ``TPFGO_QUEUE_RESEND_SECONDS`` after
   it was sent (its message lost, or behind a long backlog) is sent again (``pipelines.engine.queues``).

Duplicates are harmless everywhere: an attempt runs only for the worker whose claim insert wins. Still, a resume or
an attempt the sweeper sent is sent again only on a growing interval, and not while the queue it goes to is deep
(``pipelines.recovery.resends``): its message may only be waiting behind a backlog, which every copy would lengthen.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import prometheus_client
import structlog
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.module_loading import import_string

from pipelines.contracts.errors import RetryableError
from pipelines.engine import queues
from pipelines.engine.registry import composition
from pipelines.failures import parking, sinks
from pipelines.failures import record as failure_record
from pipelines.failures.parking import retry_policy
from pipelines.models import (
    ForkedFrom,
    ParkedItem,
    ParkingOutcome,
    RetryClaim,
    RetryScheduled,
    SweepDispatch,
    SweepTick,
)
from pipelines.recovery import aux_branches, drain, forks, resends, retries
from pipelines.recovery import resume as recovery
from pipelines.store import claim_locks, clock

log = structlog.get_logger("pipelines.sweeper")


SWEEP_ACTIONS = prometheus_client.Counter(
    "tpfgo_sweep_actions_total",
    "What sweeps did (dry runs not counted): lost retries re-enqueued, lost attempts rescheduled or dead-lettered, "
    "stalled positions resumed, aux branches written, hand-offs sent again, copies held behind a deep queue.",
    ["action"],
)


UNREADABLE = prometheus_client.Counter(
    "tpfgo_sweep_unreadable_total",
    "Items a sweep passed over because this composition cannot read them (a pipeline or checkpoint type it no "
    "longer has), per pass (cut_forks, partial_progress: resumed in the sweep, or by the worker's "
    "pipelines.resume_trace it sent). The rest of the sweep goes on; the item is tried again on the next.",
    ["pass"],
)
UNREADABLE_PASSES = ("cut_forks", "partial_progress")
# What a composition that no longer has a pipeline or checkpoint type raises on an item of it (as ``resume.at_rest``).
UNREADABLE_ERRORS = (LookupError, ObjectDoesNotExist)
for _pass in UNREADABLE_PASSES:
    UNREADABLE.labels(_pass)


class AttemptLost(RetryableError):
    """The worker running an attempt died before recording how it ended."""

    code = "ATTEMPT_LOST"


@dataclass
class SweepReport:
    reenqueued: list[tuple[str, int]] = field(default_factory=list)
    rescheduled: list[tuple[str, int]] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    resumes: list[tuple[str, int]] = field(default_factory=list)
    aux_branches: list[tuple[str, int]] = field(default_factory=list)
    handoffs: list[tuple[str, str]] = field(default_factory=list)
    # Sends held behind a deep queue (``resends.Backlog``): (kind, parked item or trace, attempt, seq or pipeline).
    held: list[tuple[str, str, int | str]] = field(default_factory=list)
    # Positions nothing can run from now, decided skipped without a resume (``resume.at_rest``): trace, seq, why.
    # Not in ``as_dict``: no work was recovered (``tpfgo_sweep_actions_total``, ``sweep.done``).
    settled: list[tuple[str, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "reenqueued": len(self.reenqueued),
            "rescheduled": len(self.rescheduled),
            "dead_lettered": len(self.dead_lettered),
            "resumes": len(self.resumes),
            "aux_branches": len(self.aux_branches),
            "handoffs": len(self.handoffs),
            "held": len(self.held),
        }


for _action in SweepReport().as_dict():  # every action's series exists from the start (0): rate() has a baseline
    SWEEP_ACTIONS.labels(_action)


def claim_tick(node: str, now: datetime.datetime | None = None) -> int | None:
    """Claim the sweep of the current time slot (``TPFGO_SWEEP_SECONDS`` long): its number, or None when another
    sweep already claimed it (a second beat, a redelivered message, beat's second ask in the slot)."""
    now = now or clock.now()
    tick = int(now.timestamp() // float(getattr(settings, "TPFGO_SWEEP_SECONDS", 30)))
    try:
        with transaction.atomic():
            SweepTick.objects.create(tick=tick, node=node[:200], created_at=now)
    except IntegrityError:
        return None
    return tick


def sweep(
    now: datetime.datetime | None = None,
    limit: int | None = None,
    *,
    window: datetime.timedelta | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """One sweep: each pass looks back over ``window`` (``TPFGO_SWEEP_WINDOW_SECONDS`` unless given) and takes
    at most ``limit`` rows. ``dry_run`` reports what it would do and does nothing (``manage.py sweep``)."""
    with without_jit():
        return _sweep(now, limit, window, dry_run)


def _sweep(
    now: datetime.datetime | None, limit: int | None, window: datetime.timedelta | None, dry_run: bool
) -> SweepReport:
    now = now or clock.now()
    limit = limit or int(getattr(settings, "TPFGO_SWEEP_BATCH", 200))
    since = now - (window or recovery.window())
    report = SweepReport()
    backlog = resends.Backlog()
    reenqueue_lost(now, since, limit, report, dry_run, backlog)
    if not dry_run:  # resumed pauses whose drain task was lost go on draining at their rate
        drain.release_resumed(now, since)
    recover_lost_attempts(now, since, limit, report, dry_run)
    resting = resends.waiting(SweepDispatch.RESUME, OuterRef("trace_id"), OuterRef("seq"), now)
    # A position whose next step awaits an event, or that an open parked item stopped on, is settled here, not sent:
    # a resume of it would run nothing, and would count as work the sweeper recovered (tpfgo_sweep_actions_total).
    rows = recovery.candidates(now, limit, since=since, unless=resting)
    superseded = forks.superseded_positions(rows)
    stalled = []
    for row in rows:
        if row.seq in superseded:  # not resumed: its branch is no longer the trace's; decided, so not judged again
            if not dry_run:
                recovery.settle(row, forks.SUPERSEDED)
            report.settled.append((str(row.trace_id), row.seq, forks.SUPERSEDED))
            continue
        why = recovery.at_rest(row) if dry_run else recovery.settle_at_rest(row)
        if why:
            report.settled.append((str(row.trace_id), row.seq, why))
        else:
            stalled.append((row.trace_id, row.seq))
    sent = _send(SweepDispatch.RESUME, stalled, now, dry_run, lambda key: dispatch_resume(*key), report, backlog)
    lost = lost_resumes(now, since, limit)  # each claimed since it was sent: its run died, not its message
    sent += _send(SweepDispatch.RESUME, list(lost), now, dry_run, _resume_lost, report, backlog, taken=lost)
    report.resumes.extend((str(trace_id), seq) for trace_id, seq in sent)
    _resume_cut_forks(now, since, limit, report, dry_run)
    for side, row in aux_branches.missing(now, since, limit):
        if not dry_run:
            aux_branches.write(side, row)
        report.aux_branches.append((str(row.trace_id), row.seq))
    handed, waiting = queues.resend_lost(now, limit, dry_run=dry_run, deep=backlog.holds)
    report.handoffs.extend(handed)
    report.held.extend(("handoff", trace_id, pipeline) for trace_id, pipeline in waiting)
    if report.held:
        log.warning("sweep.resends_held", held=len(report.held), queues=backlog.deep_queues())
    if any(report.as_dict().values()) and not dry_run:
        log.info("sweep.done", **report.as_dict())
        for action, count in report.as_dict().items():
            if count:
                SWEEP_ACTIONS.labels(action).inc(count)
    return report


def _resume_cut_forks(
    now: datetime.datetime, since: datetime.datetime, limit: int, report: SweepReport, dry_run: bool
) -> None:
    """Forks a crash cut off where the frontier does not hold them (``forks.cut``) are taken up on their branch,
    here, as aux branches are written; sent again only on a growing interval (``resends``: the position's key, or
    the fork's id and its fork point's seq), so one whose run writes nothing is not run on every sweep. Each counts
    as a resume (of the fork point, or of the fork's checkpoint)."""
    cut = {found.key: found for found in forks.cut(since, now - recovery.grace(), limit)}
    sent = _send(SweepDispatch.RESUME, list(cut), now, dry_run, lambda key: _run_fork_again(cut[key]), report, None)
    report.resumes.extend((str(cut[key].fork.trace_id), key[1]) for key in sent)


def _run_fork_again(cut: forks.Cut) -> bool | None:
    """Run the cut fork again; False when this composition cannot read it (nothing recorded, no resume counted: the
    next sweep tries it again), so one fork a deploy left unreadable does not stop the rest of the sweep."""
    fork = cut.fork
    seq = fork.from_seq if cut.row is None else cut.row.seq
    log.warning("sweep.fork_cut", trace_id=str(fork.trace_id), fork_id=str(fork.id), seq=seq)
    try:
        forks.run_again(cut)
    except UNREADABLE_ERRORS as exc:
        _fork_unreadable(fork, exc)
        return False
    return None


def _fork_unreadable(fork: ForkedFrom, exc: Exception) -> None:
    log.error(
        "sweep.fork_unreadable",
        trace_id=str(fork.trace_id),
        fork_id=str(fork.id),
        pipeline=fork.pipeline,
        checkpoint_type=fork.from_type,
        error=repr(exc),
    )
    UNREADABLE.labels("cut_forks").inc()


def release_due(now: datetime.datetime | None = None, limit: int | None = None) -> int:
    """Delayed delivery from the database (``TPFGO_DELAYED_DELIVERY=database``; beat's ``pipelines.release_due``):
    publish the scheduled attempts and drain releases that fell due since about two passes ago, and go on draining
    resumed pauses. Each is published about twice (harmless: one claim wins); what a stopped beat let slip past
    that is the lost-message pass's, after the grace period."""
    now = now or clock.now()
    limit = limit or int(getattr(settings, "TPFGO_SWEEP_BATCH", 200))
    since = now - datetime.timedelta(seconds=2 * float(getattr(settings, "TPFGO_RELEASE_SECONDS", 2)))
    due = _unclaimed(RetryScheduled.objects.filter(due_at__gt=since, due_at__lte=now))
    ready = [(s.parked_id, s.attempt, s.due_at) for s in due[:limit]]
    ready += [(r.hold.parked_id, r.hold.attempt, r.due_at) for r in drain.due_releases(since, now, limit)]
    for parked_id, attempt, due_at in ready[:limit]:
        parking.enqueue(parked_id, attempt, due_at)
    drain.release_resumed(now, now - recovery.window())
    return len(ready[:limit])


def _unclaimed(scheduled: QuerySet[RetryScheduled]) -> QuerySet[RetryScheduled]:
    """Scheduled attempts no worker claimed, nothing ended since, and no paused step's drain owns."""
    claimed = RetryClaim.objects.filter(parked=OuterRef("parked"), attempt=OuterRef("attempt"))
    ended = ParkingOutcome.objects.filter(parked=OuterRef("parked"), created_at__gte=OuterRef("created_at"))
    held = drain.held_attempt(OuterRef("parked"), OuterRef("attempt"))
    return scheduled.filter(~Exists(claimed), ~Exists(ended), ~Exists(held)).order_by("due_at")


def reenqueue_lost(
    now: datetime.datetime,
    since: datetime.datetime,
    limit: int,
    report: SweepReport,
    dry_run: bool = False,
    backlog: resends.Backlog | None = None,
) -> None:
    """Attempts and drain releases due longer ago than the grace period that no worker claimed, sent again unless
    the sweeper sent them recently (``resends``: their message may only be waiting behind a backlog)."""
    due = _unclaimed(RetryScheduled.objects.filter(due_at__gte=since, due_at__lte=now - recovery.grace()))
    due = due.filter(~resends.waiting(SweepDispatch.RETRY, OuterRef("parked"), OuterRef("attempt"), now))
    lost = {(s.parked_id, s.attempt): s.due_at for s in due[:limit]}
    for release in drain.lost_releases(now, since, limit):
        lost.setdefault((release.hold.parked_id, release.hold.attempt), release.due_at)
    keys = list(lost)[:limit]
    sent = _send(SweepDispatch.RETRY, keys, now, dry_run, lambda key: parking.enqueue(*key, lost[key]), report, backlog)
    report.reenqueued.extend((str(parked_id), attempt) for parked_id, attempt in sent)


def _send(
    kind: str,
    keys: list[resends.Key],
    now: datetime.datetime,
    dry_run: bool,
    send: Callable[[resends.Key], Any],
    report: SweepReport,
    backlog: resends.Backlog | None,
    taken: dict[resends.Key, datetime.datetime] | None = None,
) -> list[resends.Key]:
    """The keys whose send is due and not held behind a deep queue, sent (``resends.dispatch``) unless ``dry_run``;
    the held ones go in the report."""
    if dry_run:
        found = resends.due(kind, keys, now, taken, backlog)
    else:
        found = resends.dispatch(kind, keys, now, send, taken, backlog)
    report.held.extend((kind, str(subject), number) for subject, number in found.held)
    return list(found.send)


def orphan_age() -> datetime.timedelta:
    """How old a claim whose run has ended without finishing must be before the sweeper takes it up
    (``TPFGO_SWEEP_ORPHAN_SECONDS``): the run's own task, run again by Celery, is the first to take it up."""
    return datetime.timedelta(seconds=float(getattr(settings, "TPFGO_SWEEP_ORPHAN_SECONDS", 60)))


def recover_lost_attempts(
    now: datetime.datetime, since: datetime.datetime, limit: int, report: SweepReport, dry_run: bool = False
) -> None:
    """Claims with nothing after them: older than the claim timeout, or (PostgreSQL) older than ``orphan_age`` and
    their run ended, its lock free (``claim_locks``): its worker died, whatever the broker does with its message."""
    ended = ParkingOutcome.objects.filter(parked=OuterRef("parked"), created_at__gte=OuterRef("created_at"))
    later = RetryScheduled.objects.filter(parked=OuterRef("parked"), attempt__gt=OuterRef("attempt"))
    unfinished = RetryClaim.objects.filter(created_at__gte=since).filter(~Exists(ended), ~Exists(later))
    timed_out = now - recovery.claim_timeout()
    stale = unfinished.filter(created_at__lte=timed_out).select_related("parked").order_by("created_at")
    for claim in stale[:limit]:
        _attempt_lost(claim, now, report, dry_run)
    if connection.vendor != "postgresql":
        return
    young = unfinished.filter(created_at__gt=timed_out, created_at__lte=now - orphan_age())
    for claim in young.select_related("parked").order_by("created_at")[:limit]:
        with claim_locks.working_on("attempt", claim.parked_id, claim.attempt) as alone:
            if alone:  # held while the next attempt is scheduled: a redelivered message waits, then finds it
                _attempt_lost(claim, now, report, dry_run)


def lost_resumes(
    now: datetime.datetime, since: datetime.datetime, limit: int
) -> dict[tuple[uuid.UUID, int], datetime.datetime]:
    """PostgreSQL: positions whose resume died before the claim timeout (its lock is free, ``claim_locks``), older
    than ``orphan_age``, each with its claim's time; the resume dispatched for each takes the next attempt
    (``resume._claim``)."""
    if connection.vendor != "postgresql":
        return {}
    lost = {}
    for claim in recovery.unfinished_claims(now, since, orphan_age(), limit):
        with claim_locks.working_on("position", claim.trace_id, claim.seq) as alone:
            if alone:
                lost[(claim.trace_id, claim.seq)] = claim.created_at
    return lost


def _attempt_lost(claim: RetryClaim, now: datetime.datetime, report: SweepReport, dry_run: bool) -> None:
    """The next attempt after a claim whose run died, or a dead letter past the policy's attempts."""
    parked = claim.parked
    try:
        step = composition().pipeline(parked.pipeline).step(parked.step)
    except KeyError:
        log.error("sweep.unknown_step", parked_id=str(parked.pk), pipeline=parked.pipeline, step=parked.step)
        return
    exhausted = claim.attempt > retry_policy(parked.pipeline, step).max_attempts
    lost = AttemptLost(f"worker lost during attempt {claim.attempt} (claimed by {claim.worker})")
    if dry_run:
        if exhausted:
            report.dead_lettered.append(str(parked.pk))
        else:
            report.rescheduled.append((str(parked.pk), claim.attempt + 1))
        return
    _record_lost(parked, claim.attempt, lost)
    with transaction.atomic(), parking.deciding(parked.pk):
        if parking.decided(parked, claim.attempt):  # the run was not dead: its own failure decided it meanwhile
            log.info("sweep.attempt_decided", parked_id=str(parked.pk), attempt=claim.attempt)
            return
        if exhausted:
            parking.dead_letter(parked, "retry_exhausted", claim.attempt, lost)
            report.dead_lettered.append(str(parked.pk))
        elif parking.schedule(parked, claim.attempt + 1, now, now):
            report.rescheduled.append((str(parked.pk), claim.attempt + 1))
    log.warning("sweep.attempt_lost", parked_id=str(parked.pk), attempt=claim.attempt, worker=claim.worker)


def _record_lost(parked: ParkedItem, attempt: int, lost: AttemptLost) -> None:
    """The lost attempt's error-sink entry, code ``ATTEMPT_LOST``, as any failed attempt has one: the console's error
    groups, a bulk selection by code and the order's ``stalled`` read the sink (an entry the dead run recorded for
    the attempt before it died is kept: the id is the attempt's)."""
    try:
        described = parking.describe(retries.load_value(parked))
    except Exception:  # noqa: BLE001  (the input is gone, purged: the entry names the item without its payload)
        described = (parked.item_type, parked.item_id, None)
    sinks.record(
        failure_record.sink_entry(
            parked.pipeline, parked.step, described, parked.trace_id, parked.event, attempt, lost, branch=parked.branch
        )
    )


def dispatch_resume(trace_id: uuid.UUID, seq: int) -> bool | None:
    """Hand a resume to a worker (``TPFGO_RESUME_ENQUEUE``; False when the hook says the broker refused it); an
    empty hook runs it here and now (False when this composition cannot read the position: a pipeline or checkpoint
    type it no longer has, so the rest of the sweep goes on)."""
    hook = getattr(settings, "TPFGO_RESUME_ENQUEUE", "pipelines.tasks.enqueue_resume")
    if not hook:
        try:
            recovery.resume(trace_id, seq, worker="sweeper")
        except UNREADABLE_ERRORS as exc:  # nothing recorded, no resume counted: the next sweep tries it again
            position_unreadable(trace_id, seq, exc, "sweeper")
            return False
        return None
    sent: bool | None = import_string(hook)(trace_id, seq)
    return sent


def position_unreadable(trace_id: uuid.UUID | str, seq: int, exc: Exception, worker: str) -> None:
    """A stalled position this composition cannot read, met by the resume the partial-progress pass ran in the
    sweep or sent to a worker (``worker`` names it): logged and counted alike, whichever ran it."""
    log.error("sweep.position_unreadable", trace_id=str(trace_id), seq=seq, worker=worker, error=repr(exc))
    UNREADABLE.labels("partial_progress").inc()


def _resume_lost(key: resends.Key) -> bool | None:
    log.warning("sweep.resume_lost", trace_id=str(key[0]), seq=key[1])
    return dispatch_resume(*key)


@contextlib.contextmanager
def without_jit() -> Iterator[None]:
    """PostgreSQL: no JIT compiling for the pass's statements. A sweep's queries read a few rows, but their
    estimated cost follows the log's size (the partial-progress query carries the window scan it falls back to), so
    past ``jit_above_cost`` PostgreSQL compiled them on every pass: 0.9 s of compiling for 0.5 ms of reading at
    1,000,000 orders in the window (docs/performance.md, "The sweeper's cost")."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET jit")
        except DatabaseError:  # an aborted transaction: the error that aborted it is the one to report
            pass
