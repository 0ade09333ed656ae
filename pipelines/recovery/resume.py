"""Partial-progress recovery: resume a trace a crash left between two checkpoints.

A trace is stalled at a ``CheckpointLog`` row when the trace did not go on from it (no newer row of the row's
pipeline or of a pipeline downstream of it: a side pipeline run later on the same trace, such as a refused
cancellation, does not count), the row is older than the grace period and is not a terminal publication, the
trace has no open parked item stopped on it (one elsewhere in the trace, such as another pipeline's, does not hold
it up), and what comes next is not a step waiting for an external event. What comes next
is read from the composition: the subscribers of the row's publication, or the next step of the row's pipeline.
Resuming runs that through the engine, whose deterministic ids make it a replay where work already exists, so a
resume never inserts anything twice. A row of a ``queue`` publication is handed to its subscribers' queues again
instead (``pipelines.engine.queues.resend``), and its position settles: the pending hand-off is followed from then on.

Each position (trace, seq) is claimed by a unique ``Resumption`` insert: one sweeper resumes it, once per
attempt; a resume that died with its worker is tried again after the claim timeout, at most
``MAX_RESUME_ATTEMPTS`` times. Skipped positions are recorded too, so a waiting trace is looked at once, and so
is a resume that wrote nothing (what follows lost to another path or skipped): it settles its position. A position
skipped because nothing follows it is settled under the composition that said so (its fingerprint is recorded): a
composition that has something to follow it (a pipeline a deploy dropped, restored) decides it again.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connections, transaction
from django.db.models import BooleanField, Exists, Expression, OuterRef, Q, QuerySet, Subquery

from pipelines.contracts.declarations import Composition, Pipeline, Step
from pipelines.contracts.steps import StepStatus
from pipelines.engine import queues
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.failures import parking
from pipelines.models import (
    Checkpoint,
    CheckpointLog,
    FlowRule,
    ForkedFrom,
    LineageLink,
    OpenPosition,
    OpenWait,
    ParkedItem,
    Resumption,
)
from pipelines.recovery.frontier import downstream, fingerprint
from pipelines.store import claim_locks, clock, open_positions
from pipelines.store.waits import wait_id

log = structlog.get_logger("pipelines.recovery")

MAX_RESUME_ATTEMPTS = open_positions.MAX_ATTEMPTS  # the frontier's triggers settle a position at the last one
NOTHING_FOLLOWS = "nothing follows"


def grace() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(getattr(settings, "TPFGO_SWEEP_GRACE_SECONDS", 120)))


def window() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(getattr(settings, "TPFGO_SWEEP_WINDOW_SECONDS", 86400)))


def claim_timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(getattr(settings, "TPFGO_SWEEP_CLAIM_TIMEOUT_SECONDS", 900)))


def _went_on(comp: Composition) -> Q:
    """A log row after which its trace went on: a newer row in its own pipeline or one downstream of it (any newer
    row, for a pipeline the composition no longer has)."""
    flows = downstream(comp)
    newer = CheckpointLog.objects.filter(trace_number=OuterRef("trace_number"), seq__gt=OuterRef("seq"))
    went_on = ~Q(pipeline__in=sorted(flows)) & Q(Exists(newer))
    for name, after in sorted(flows.items()):
        went_on |= Q(pipeline=name) & Q(Exists(newer.filter(pipeline__in=sorted(after))))
    return went_on


def candidates(
    now: datetime.datetime | None = None,
    limit: int = 200,
    *,
    since: datetime.datetime | None = None,
    unless: Exists | None = None,
) -> list[CheckpointLog]:
    """Rows after which their trace did not go on, older than the grace period, newer than ``since`` (the window
    back from ``now`` unless given), not terminal, not yet decided, and for which ``unless`` (a subquery on the log
    row, such as the sweeper's "sent recently") does not hold.

    "Went on" counts only newer rows of the row's own pipeline and of those downstream of it, so a side pipeline
    that ran later on the same trace (a refused cancellation) does not hide a stall of the chain.
    The rows come from the frontier (``OpenPosition``, ``pipelines.recovery.frontier``): only the positions no
    newer row went on from, so a pass costs what is open, not what was done in the window. The same judgements
    are then made on those log rows themselves, so the answer is the window scan's. Without the frontier in force
    (the database's flow rules are not this composition's: no row with its fingerprint), the window is scanned:
    a ``created_at`` range (indexed), each row costing index probes on ``(trace_number, seq)``.
    """
    now = now or clock.now()
    comp = composition()
    since = since or now - window()
    decided = Resumption.objects.filter(trace_id=OuterRef("trace_id"), seq=OuterRef("seq")).filter(
        settled(comp) | live_claim(now) | Q(attempt__gte=MAX_RESUME_ATTEMPTS)
    )
    in_window = CheckpointLog.objects.filter(created_at__gte=since, created_at__lte=now - grace())
    open_now = OpenPosition.objects.filter(created_at__gte=since, created_at__lte=now - grace()).values("seq")
    # One query either way: the fingerprint's row is read once (an init plan on PostgreSQL), and the branch it
    # rules out is never run. Each branch is limited where the database allows it, so the plan's estimated cost
    # is the limited one: the scan branch's full estimate would have PostgreSQL JIT-compile the query on every
    # pass (seconds of compiling for a few milliseconds of reading, docs/performance.md).
    in_force = Exists(FlowRule.objects.filter(kind=FlowRule.FINGERPRINT, name=fingerprint(comp)))
    if unless is not None:
        in_window = in_window.filter(~unless)
    from_frontier = _stalled(comp, in_window.filter(_Among(Subquery(open_now))), decided).filter(in_force)
    scanned = _stalled(comp, in_window, decided).filter(~in_force)
    if connections[CheckpointLog.objects.db].features.supports_slicing_ordering_in_compound:
        from_frontier, scanned = (branch.order_by("created_at")[:limit] for branch in (from_frontier, scanned))
    return list(from_frontier.union(scanned, all=True).order_by("created_at")[:limit])


def settled(comp: Composition) -> Q:
    """A decision that settles its position under ``comp``: a skip, unless only another composition decided it."""
    return Q(decision=Resumption.SKIPPED) & (Q(composition="") | Q(composition=fingerprint(comp)))


def live_claim(now: datetime.datetime) -> Q:
    """A resume claimed within the claim timeout: its run may still be at it (a skip is no run: it settles its
    position, or another composition's does not)."""
    return Q(decision=Resumption.RESUMED, created_at__gt=now - claim_timeout())


def decided_under(why: str) -> str:
    """The composition a skip for ``why`` holds under: this one's fingerprint when only it decided that nothing
    follows, else blank (any composition)."""
    return fingerprint(composition()) if why == NOTHING_FOLLOWS else ""


def unfinished_claims(
    now: datetime.datetime, since: datetime.datetime, older_than: datetime.timedelta, limit: int
) -> list[Resumption]:
    """Resumes claimed within the claim timeout, older than ``older_than``, that are their position's last word
    while the position is still open (a finished resume moved the trace on or settled the position): each one's run
    is still at it, or died (``claim_locks`` tells which)."""
    later = Resumption.objects.filter(
        trace_id=OuterRef("trace_id"), seq=OuterRef("seq"), attempt__gt=OuterRef("attempt")
    )
    rows = Resumption.objects.filter(
        decision=Resumption.RESUMED,
        created_at__gte=max(since, now - claim_timeout()),
        created_at__lte=now - older_than,
        attempt__lt=MAX_RESUME_ATTEMPTS,
    ).filter(~Exists(later), Exists(OpenPosition.objects.filter(seq=OuterRef("seq"))))
    return list(rows.order_by("created_at")[:limit])


class _Among(Expression):
    """The log row's ``seq`` is one of the subquery's. On PostgreSQL ``seq = ANY(ARRAY(subquery))``: the subquery
    runs once, first, and the log is read by its primary key; a plain ``IN`` lets the planner scan the window
    with every other condition pushed down to each row of it, which is the cost the frontier is there to avoid."""

    output_field = BooleanField()

    def __init__(self, subquery: Subquery) -> None:
        super().__init__()
        self.subquery = subquery

    def get_source_expressions(self) -> list[Any]:
        return [self.subquery]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.subquery,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.subquery)
        column = f"{connection.ops.quote_name(CheckpointLog._meta.db_table)}.{connection.ops.quote_name('seq')}"
        if connection.vendor == "postgresql":
            return f"{column} = ANY(ARRAY{sql})", params
        return f"{column} IN {sql}", params


def _stalled(
    comp: Composition, rows: QuerySet[CheckpointLog], decided: QuerySet[Resumption]
) -> QuerySet[CheckpointLog]:
    return rows.exclude(publication__in=sorted(comp.terminal)).exclude(_went_on(comp)).filter(~Exists(decided))


@dataclass(frozen=True)
class Next:
    """One way the trace goes on from a row: run ``pipeline`` from ``step`` on ``value``."""

    pipeline: Pipeline
    step: Step
    value: Any
    key: str


def successors(comp: Composition, row: CheckpointLog) -> list[Next]:
    """What the composition runs after ``row``: its publication's subscribers, or its pipeline's next step."""
    if row.publication:
        if row.publication in comp.terminal:
            return []
        checkpoint = load(row)
        return [Next(p, p.steps[0], checkpoint, checkpoint.idempotency_key) for p in comp.subscribers(row.publication)]
    spec = comp.pipeline(row.pipeline)
    index = spec.index(row.step)
    if index + 1 >= len(spec.steps):
        return []
    step = spec.steps[index]
    if step.shape == "split":
        siblings = split_siblings(row)
        return [Next(spec, spec.steps[index + 1], siblings, siblings[0].idempotency_key.rsplit(":", 1)[0])]
    checkpoint = load(row)
    return [Next(spec, spec.steps[index + 1], checkpoint, checkpoint.idempotency_key)]


def load(row: CheckpointLog) -> Checkpoint:
    return checkpoint_models()[row.checkpoint_type].objects.get(pk=row.checkpoint_id)


def split_siblings(row: CheckpointLog) -> list[Checkpoint]:
    """Every output of the split that wrote ``row`` (a split inserts them all in one transaction)."""
    model = checkpoint_models()[row.checkpoint_type]
    in_trace = LineageLink.objects.filter(trace_number=row.trace_number)
    parent = in_trace.filter(child_id=row.checkpoint_id).values_list("parent_id", flat=True).first()
    if parent is None:  # a split always has its parent; without one, the row is all there is
        return [load(row)]
    ids = in_trace.filter(parent_id=parent, child_type=row.checkpoint_type).values_list("child_id", flat=True)
    children = list(model.objects.filter(pk__in=list(ids)))
    return sorted(children, key=lambda cp: int(cp.idempotency_key.rsplit(":", 1)[1]))


def waits(nxt: Next) -> bool:
    """The next step stops for an external event: declared ``awaits=True``, or its predicate says so."""
    awaits = nxt.step.awaits
    return bool(awaits(nxt.value) if callable(awaits) else awaits)


def decide(row: CheckpointLog) -> tuple[list[Next], str]:
    """What to run for a stalled position, or why nothing (the reason is recorded)."""
    comp = composition()
    if any(_parked_at(parked, row) for parked in parking.open_items(row.trace_id)):
        return [], "open parking"
    nexts = successors(comp, row)
    if not nexts:
        return [], NOTHING_FOLLOWS
    further = waiting_further(row, nexts)
    runnable = [n for n in nexts if not waits(n) and n.pipeline.name not in further]
    if not runnable:
        first = nexts[0]
        return [], f"awaits {first.pipeline.name}.{further.get(first.pipeline.name, first.step.name)}"
    return runnable, ""


def waiting_further(row: CheckpointLog, nexts: list[Next]) -> dict[str, str]:
    """``{pipeline: step}`` of the ``nexts`` whose later awaiting step has an open wait on the row's checkpoint: the
    steps before it skipped (nothing recorded, their input travelled on), so the trace waits there for its event,
    as when the next step itself awaits (a capture held for review: its void skipped, its terminal state waits).

    The wait may be a fork's: a fork from the row's checkpoint waits on it on the fork's branch, under an id of its
    own (``wait_id`` with the branch), and the trace waits there as much as on its own branch."""
    steps = [
        (n.pipeline.name, later.name)
        for n in nexts
        for later in n.pipeline.steps[n.pipeline.index(n.step.name) + 1 :]
        if later.awaits
    ]
    if not steps:
        return {}
    forked = ForkedFrom.objects.filter(trace_id=row.trace_id, from_id=row.checkpoint_id).values_list("id", flat=True)
    on = [None, *(str(branch) for branch in forked)]
    ids = [wait_id(pipeline, step, row.checkpoint_id, branch) for pipeline, step in steps for branch in on]
    return dict(OpenWait.objects.filter(pk__in=ids).values_list("pipeline", "step"))


def _parked_at(parked: ParkedItem, row: CheckpointLog) -> bool:
    """The open parked item stopped on what this position goes on from (its input is the row's checkpoint, or one of
    a merge's): its retry, or ops, will take the trace on from here. A parked item elsewhere in the trace (another
    pipeline's, a cancellation beside a stuck dispatch) does not hold this position up."""
    return parked.item_id == row.checkpoint_id or str(row.checkpoint_id) in (parked.merge_ids or ())


@dataclass(frozen=True)
class Lock:
    """What the position's lock (``claim_locks``) said to this resume: ``alone``, it holds it (taken at ``since``
    or just after); ``held``, another session does."""

    alone: bool
    held: bool
    since: datetime.datetime


def resume(trace_id: uuid.UUID | str, seq: int, worker: str = "", *, again: bool = False) -> str:
    """Resume the trace from position ``seq`` once; returns what happened, for logs and tests.

    A resume that wrote nothing and parked nothing (what follows lost to another path, skipped, or was there
    already) settles the position: it is recorded as skipped, so no later sweep runs it again.

    ``again``: Celery runs the task again (after a database outage, or after its process died), and it goes on with
    the claim its earlier run made (``worker`` names the task; on any host) instead of leaving the position to the
    claim timeout.
    """
    trace = uuid.UUID(str(trace_id))
    # Read before the lock is taken: a claim made after it was made by a run that found the lock held (below). The
    # database's clock, which the claims record too: a node's skewed clock cannot put a claim before the lock.
    locking = clock.now()
    with claim_locks.working_on("position", trace, seq) as alone:
        # Held elsewhere: a resume is at this position right now. It is neither taken over nor followed until its
        # claim is older than the claim timeout: then it is stuck, and the next attempt goes ahead, as without locks.
        # With no claim yet, the lock's holder is about to make it: the position is its.
        held = alone is False
        lock = Lock(alone=alone is True, held=held, since=locking)
        return _resume(trace, seq, worker, again=again and not held, lock=lock)


def at_rest(row: CheckpointLog) -> str:
    """Why nothing can run from this position now (its next step awaits an event, an open parked item stopped on
    it, nothing follows), or empty: something can, or this composition cannot read it (a pipeline or checkpoint type
    it no longer has), and the worker's resume fails on it and says why. What a sweep and its dry run both ask."""
    try:
        nexts, why = decide(row)
    except (LookupError, ObjectDoesNotExist):  # never the whole sweep
        return ""
    return "" if nexts else why


def settle_at_rest(row: CheckpointLog, worker: str = "sweeper") -> str:
    """The sweeper's look before it sends a resume: a position at rest (``at_rest``) is decided skipped here, as a
    worker would decide it, and no resume is sent for it: the reason. Else empty, nothing is recorded, and the
    resume is sent as before."""
    why = at_rest(row)
    if why:
        settle(row, why, worker)
    return why


def settle(row: CheckpointLog, why: str, worker: str = "sweeper") -> None:
    """Decide the position skipped for ``why``, under its lock, as a worker would: no later sweep looks at it
    again (nor, once the frontier's trigger took it out, reads it)."""
    locking = clock.now()
    with claim_locks.working_on("position", row.trace_id, row.seq) as alone:
        lock = Lock(alone=alone is True, held=alone is False, since=locking)
        if _claim(row.trace_id, row.seq, Resumption.SKIPPED, why, worker, lock) is not None:
            log.info("recovery.skipped", trace_id=str(row.trace_id), seq=row.seq, why=why)


def _resume(trace: uuid.UUID, seq: int, worker: str, *, again: bool, lock: Lock) -> str:
    row = CheckpointLog.objects.filter(trace_id=trace, seq=seq).first()
    if row is None:
        return "missing"
    if CheckpointLog.objects.filter(trace_id=trace, seq=seq).filter(_went_on(composition())).exists():
        return "moved-on"
    nexts, why = decide(row)
    decision = Resumption.RESUMED if nexts else Resumption.SKIPPED
    own = _own_claim(trace, seq, worker) if again else None
    attempt = own if own is not None else _claim(trace, seq, decision, why, worker, lock)
    if attempt is None:
        return "claimed-elsewhere"
    if not nexts:
        log.info("recovery.skipped", trace_id=str(trace), seq=seq, why=why)
        return "skipped"
    statuses, wrote = [], False
    queued = row.publication and row.publication in queues.in_force(composition()).queued
    for nxt in nexts:
        if queued:  # handed to the pipeline's queue again, not run here: the worker runs it, the outbox follows it
            statuses.append(queues.resend(row.publication, nxt.value, nxt.pipeline.name))
            continue
        execution = engine().run(nxt.pipeline.name, nxt.value, step=nxt.step.name, key=nxt.key, trace_id=trace)
        statuses.append(execution.first.status)
        wrote = wrote or any(r.status in (StepStatus.INSERTED, StepStatus.FAILED) for r in execution.results)
    if wrote:
        log.warning("recovery.resumed", trace_id=str(trace), seq=seq, next=[n.pipeline.name for n in nexts])
    else:
        _record(trace, seq, attempt + 1, Resumption.SKIPPED, f"settled: {','.join(statuses)}", worker)
        log.info("recovery.settled", trace_id=str(trace), seq=seq, statuses=statuses)
    return ",".join(statuses)


def _claim(trace: uuid.UUID, seq: int, decision: str, why: str, worker: str, lock: Lock) -> int | None:
    """The attempt number this worker claimed for the position, or None if it is decided or claimed elsewhere.

    ``lock.alone``: the caller holds the position's lock (``claim_locks``), so a claim younger than the claim timeout
    made before it took the lock belongs to a resume that has ended without settling the position (it died): this
    one takes the next attempt. A claim made since was made by a run that found the lock held (past a stuck claim,
    below) and is live: the position is that run's.
    ``lock.held``: another session holds that lock, so a resume is at the position; this one goes ahead only past a
    claim of its that is older than the claim timeout (stuck), never before the holder's first claim: else the
    holder, alone, would take this live claim for a dead one's and run beside it."""
    done = Resumption.objects.filter(trace_id=trace, seq=seq)
    # Count first, then look for a live claim: a claim inserted in between is either seen live here, or holds the
    # attempt number this one is about to insert (the unique insert then refuses it).
    attempt = done.count() + 1
    if lock.held and attempt == 1:
        return None
    done_for_good, live = settled(composition()), live_claim(clock.now())
    if lock.alone:
        done_for_good |= Q(created_at__gte=lock.since)
    if done.filter(done_for_good if lock.alone else done_for_good | live).exists():
        return None
    if attempt > MAX_RESUME_ATTEMPTS:
        return None
    if lock.alone and done.filter(live).exists():
        log.warning("recovery.claim_taken_over", trace_id=str(trace), seq=seq, attempt=attempt)
    return attempt if _record(trace, seq, attempt, decision, why, worker) else None


def _own_claim(trace: uuid.UUID, seq: int, worker: str) -> int | None:
    """The attempt ``worker`` claimed to resume the position, if it is the position's last word."""
    done = Resumption.objects.filter(trace_id=trace, seq=seq)
    own = done.filter(parking.same_task(worker[:200]), decision=Resumption.RESUMED).order_by("-attempt").first()
    if own is None or done.filter(attempt__gt=own.attempt).exists():
        return None
    return int(own.attempt)


def _record(trace: uuid.UUID, seq: int, attempt: int, decision: str, why: str, worker: str) -> bool:
    try:
        with transaction.atomic():
            Resumption.objects.create(
                trace_id=trace,
                seq=seq,
                attempt=attempt,
                decision=decision,
                detail=why[:300],
                worker=worker[:200],
                composition=decided_under(why) if decision == Resumption.SKIPPED else "",
                created_at=clock.stamp(),
            )
    except IntegrityError:
        return False
    return True
