"""Fork a trace from one of its stored checkpoints: re-run what follows it, with today's code, on a new branch.

A domain (``checkout.fork_action``) decides whether a fork is allowed and previews it; this module finds the
checkpoint, says which steps may run after it (and which of them declared an external effect), records the fork
(``ForkedFrom``, whose id is the branch) and runs it through the engine, and closes what the fork supersedes: the
open parked items whose input it no longer sees, and the open waits whose step it runs again (``superseded``). The
same fork again (same checkpoint, same effect-key choice) has the same id and the same checkpoint ids: it replays
and inserts nothing.

A fork cut off between two of its steps has a position of its own, its last checkpoint, which the sweeper resumes
on the fork's branch like any other, unless a newer row of the parent (a retry the fork supersedes) took it out of
the frontier, which judges by pipelines, not branches. One cut off before its first step committed has no position
at all: its fork point is the parent's, which the parent went on from. The sweeper finds both (``cut``), takes
the fork up where it was cut (``run_again``) and records that in an audit row of its own (``take-up-fork``).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from pipelines.contracts.declarations import Composition, Pipeline
from pipelines.contracts.ids import deterministic_id
from pipelines.contracts.steps import Execution
from pipelines.engine import queues
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.engine.runner import branch_of
from pipelines.failures import parking
from pipelines.models import (
    Checkpoint,
    CheckpointLog,
    ForkedFrom,
    OpenWait,
    ParkedItem,
    ParkingOutcome,
    WaitEnded,
    WaitOpened,
)
from pipelines.recovery import actions, frontier
from pipelines.recovery import resume as recovery
from pipelines.store import branches, clock, waits


@dataclass(frozen=True)
class ForkPoint:
    """A stored checkpoint a fork may start after: its log row, the row itself and the branch it is on."""

    log: CheckpointLog
    checkpoint: Checkpoint
    branch: str

    @property
    def trace_id(self) -> uuid.UUID:
        return self.log.trace_id

    def fork_id(self, new_effect_keys: bool) -> uuid.UUID:
        return branches.fork_id(self.trace_id, self.branch, self.checkpoint.pk, new_effect_keys)


def point(trace_id: uuid.UUID, checkpoint_id: uuid.UUID) -> ForkPoint | None:
    """The checkpoint ``checkpoint_id`` of the trace, or None when the trace has no such checkpoint."""
    log = CheckpointLog.objects.of_trace(trace_id).filter(checkpoint_id=checkpoint_id).first()
    if log is None:
        return None
    model = branches.model_named(log.checkpoint_type)
    found = model.objects.filter(pk=checkpoint_id).first() if model is not None else None
    if found is None:
        return None
    return ForkPoint(log, found, branch_of(found))


def downstream(fork: ForkPoint, plan: Composition | None = None) -> list[tuple[str, str, bool]]:
    """The steps a fork may run after its checkpoint, on the way its publications usually go: (pipeline, step,
    declared an external effect). A decision taken again otherwise may lead elsewhere; the effect keys hold there
    too."""
    plan = plan or composition()
    spec = plan.pipeline(fork.log.pipeline)
    index = spec.index(fork.log.step)
    out: list[tuple[str, str, bool]] = []
    outcome = spec.steps[index].outcomes.get(type(fork.checkpoint))
    seen: set[str] = set()
    queue: list[tuple[Pipeline, int]] = []
    if outcome is None and index + 1 < len(spec.steps):
        queue.append((spec, index + 1))
    else:
        queue += [(p, 0) for p in plan.subscribers((outcome or spec.output).name)]
    while queue:
        pipeline, start = queue.pop(0)
        if pipeline.name in seen:
            continue
        seen.add(pipeline.name)
        out += [(pipeline.name, s.name, s.external_effect) for s in pipeline.steps[start:]]
        queue += [(p, 0) for p in plan.subscribers(pipeline.output.name)]
    return out


def existing(fork: ForkPoint, new_effect_keys: bool) -> ForkedFrom | None:
    return ForkedFrom.objects.filter(pk=fork.fork_id(new_effect_keys)).first()


def start(fork: ForkPoint, *, new_effect_keys: bool) -> tuple[ForkedFrom, Execution]:
    """Record the fork (once) and run it: the steps after the checkpoint, on the fork's branch."""
    fork_id = fork.fork_id(new_effect_keys)
    row = ForkedFrom(
        id=fork_id,
        trace_id=fork.trace_id,
        parent_branch=fork.branch,
        from_type=type(fork.checkpoint).__name__,
        from_id=fork.checkpoint.pk,
        from_seq=fork.log.seq,
        pipeline=fork.log.pipeline,
        step=fork.log.step,
        new_effect_keys=new_effect_keys,
        created_at=clock.reckoned(),  # the newest fork is the active branch: by one clock, not its node's
    )
    ForkedFrom.objects.bulk_create([row], ignore_conflicts=True)
    branches.forget(fork.trace_id)
    execution = engine().fork(fork.log.pipeline, fork.log.step, fork.checkpoint, str(fork_id))
    return ForkedFrom.objects.get(pk=fork_id), execution


SUPERSEDED = "superseded by a fork"


@dataclass(frozen=True)
class Superseded:
    """What a fork supersedes on its trace: open parked items it cancels and open waits it ends as settled."""

    items: list[ParkedItem]
    waits: list[Waiting]


@dataclass(frozen=True)
class Waiting:
    """An open wait: its opening row (step, input and branch) and the round that is open."""

    opened: WaitOpened
    round: int


def superseded(fork: ForkPoint, *, new_effect_keys: bool) -> Superseded:
    """The trace's open parked items and open waits the fork supersedes.

    A parked item (retrying, held or dead-lettered): one parked on a branch that is neither the fork's nor one it
    descends from (another fork's), or whose input is a checkpoint of the trace that the fork's branch does not see
    (it sees its parent's view up to the fork point, and its own checkpoints). Its retry or redrive would run on a
    branch the order no longer shows, and a dead letter would stay on the dashboard and in ``tpfgo_dead_letters``
    with nothing left to remediate.

    A wait: one on another fork's branch, or one on a branch the fork descends from whose input is the fork point
    or later (the fork runs its step again, and waits on its own branch): its deadline would decide a branch the
    order no longer shows (a payment declined and voided under the key the fork reuses), and an event there is the
    fork's. A wait on an earlier input stays: the fork's view holds it.
    """
    rows = list(CheckpointLog.objects.of_trace(fork.trace_id).order_by("seq"))
    before = {r.checkpoint_id for r in branches.visible_log(fork.trace_id, fork.branch, rows) if r.seq < fork.log.seq}
    own = str(fork.fork_id(new_effect_keys))
    seen = before | {fork.checkpoint.pk}
    seen |= {checkpoint for checkpoint, branch in branches.branches_of(rows).items() if branch == own}
    logged = {r.checkpoint_id for r in rows}
    kept = lineage(fork, new_effect_keys=new_effect_keys)
    items = [
        p
        for p in parking.open_items(fork.trace_id)
        if p.branch not in kept or (p.item_id in logged and p.item_id not in seen)
    ]
    waits = [
        w
        for w in _open_waits(fork.trace_id)
        if w.opened.branch != own and (w.opened.branch not in kept or w.opened.item_id not in before)
    ]
    return Superseded(items, waits)


def _open_waits(trace_id: uuid.UUID) -> list[Waiting]:
    rounds = dict(OpenWait.objects.filter(trace_id=trace_id).values_list("wait_id", "round"))
    opened = WaitOpened.objects.filter(pk__in=list(rounds)).order_by("opened_at", "id")
    return [Waiting(row, rounds[row.pk]) for row in opened]


def supersedes(wait: WaitOpened) -> bool:
    """Whether the trace's newest fork supersedes the wait, as ``superseded`` judges when the fork is made
    (``waits.superseded_by_fork``). The deadline pass asks it of a wait still open, so a fork that did not get to end
    it (its run died first, or it was made by the release before, which did not) leaves no deadline to run on a
    branch the order no longer shows."""
    return waits.superseded_by_fork(wait)


def lineage(fork: ForkPoint, *, new_effect_keys: bool) -> set[str]:
    """The branches the fork's view is made of: its own and those it descends from."""
    return {str(fork.fork_id(new_effect_keys)), *branches.cutoffs(fork.trace_id, fork.branch)}


def close_superseded(fork: ForkPoint, *, new_effect_keys: bool) -> Superseded:
    """Cancel the open parked items the fork supersedes (their pending retries stop) and end its open waits' rounds
    as settled (their deadlines run nothing); what this call closed: nothing once they are closed, so the same fork
    run again closes nothing more. A wait whose deadline ended its round first is not among them.

    The caller holds the trace's turn (``actions.in_turn``) from ``start`` to here, as the deadline pass does
    around a round: a deadline due meanwhile waits, then finds its wait ended, instead of declining (and voiding
    under the key the fork reuses) between the fork's first step and this call."""
    found = superseded(fork, new_effect_keys=new_effect_keys)
    for parked in found.items:
        parking.resolve(parked, ParkingOutcome.CANCELLED, parking.last_attempt(parked), SUPERSEDED)
    now = clock.reckoned()
    ended = [
        w for w in found.waits if waits.end_round(w.opened.pk, w.round, WaitEnded.SETTLED, None, SUPERSEDED, now)[0]
    ]
    return Superseded(found.items, ended)


def superseded_positions(rows: list[CheckpointLog]) -> set[int]:
    """Of the sweeper's stalled positions, those on a branch their trace's view no longer shows whole: a parent's
    checkpoint logged after a fork point, a checkpoint of a fork a newer fork replaced. Resuming one would run the
    rest of the chain on a branch the order no longer shows (a second courier assigned, say). One query for the
    positions' forks; only a forked trace's positions are looked at further."""
    forked = set(ForkedFrom.objects.filter(trace_id__in={row.trace_id for row in rows}).values_list("trace_id"))
    out = set()
    for row in rows:
        if (row.trace_id,) in forked and not branches.visible_log(row.trace_id, branches.active(row.trace_id), [row]):
            out.add(row.seq)
    return out


@dataclass(frozen=True)
class Cut:
    """Where a fork a crash cut off goes on: from its fork point (``row`` None: nothing of its own was written), or
    from one of its own checkpoints that its branch did not go on from while another branch's newer rows did."""

    fork: ForkedFrom
    row: CheckpointLog | None

    @property
    def key(self) -> tuple[uuid.UUID, int]:
        """The sweeper's key for sending it (``resends``): the position's, or the fork's own for its fork point."""
        return (self.fork.id, self.fork.from_seq) if self.row is None else (self.row.trace_id, self.row.seq)


def cut(since: datetime.datetime, before: datetime.datetime, limit: int) -> list[Cut]:
    """Where the forks recorded between ``since`` and ``before`` (the sweep's window, less the grace period) that are
    still their trace's active branch were cut off, and the frontier does not hold (forks are few, ops actions, so
    each one's trace is read here, not kept by the frontier's triggers):

    - a fork with nothing of its own (no checkpoint on its branch, no item parked on it, no wait opened on it): the
      run that recorded it died before its first step committed. Its fork point is the parent's position, which the
      parent went on from;
    - a checkpoint of the fork's that its branch did not go on from, when a newer row of another branch (a retry of
      the parent's item the fork supersedes, before the fork closed it) went on from it in the frontier's eyes: the
      frontier judges by pipelines, not branches. Not one at rest (``resume.at_rest``).
    """
    newer = ForkedFrom.objects.filter(trace_id=OuterRef("trace_id"), created_at__gt=OuterRef("created_at"))
    recent = ForkedFrom.objects.filter(created_at__gte=since, created_at__lte=before).filter(~Exists(newer))
    found: list[Cut] = []
    for fork in recent.order_by("created_at")[:limit]:
        found += _cut_at(fork)
    return found[:limit]


def _cut_at(fork: ForkedFrom) -> list[Cut]:
    rows = list(CheckpointLog.objects.of_trace(fork.trace_id).filter(seq__gt=fork.from_seq).order_by("seq"))
    of = branches.branches_of(rows)
    own = [row for row in rows if of.get(row.checkpoint_id) == fork.branch]
    if not own:
        on_branch = {"trace_id": fork.trace_id, "branch": fork.branch}
        waiting = ParkedItem.objects.filter(**on_branch).exists() or WaitOpened.objects.filter(**on_branch).exists()
        return [] if waiting else [Cut(fork, None)]
    comp = composition()
    flows = frontier.downstream(comp)
    out = []
    for row in own:
        if row.publication in comp.terminal or _went_on_from(row, own, flows):
            continue
        if _went_on_from(row, rows, flows) and not recovery.at_rest(row):  # only another branch's rows went on
            out.append(Cut(fork, row))
    return out


def _went_on_from(row: CheckpointLog, rows: list[CheckpointLog], flows: dict[str, frozenset[str]]) -> bool:
    """A newer row of ``rows`` in the row's pipeline or one downstream of it (any newer row, for a pipeline the
    composition no longer has): as the frontier judges (``pipelines.recovery.frontier``)."""
    after = flows.get(row.pipeline)
    return any(r.seq > row.seq and (after is None or r.pipeline in after) for r in rows)


# The audit row of a cut fork the sweeper took up (``run_again``): who, why and what, as the fork action's.
TAKE_UP_ACTION = "take-up-fork"
SWEEPER = "sweeper"


def run_again(cut_at: Cut) -> list[str]:
    """Take a cut fork up where it was cut, on its branch: from its fork point as ``start`` would have (a replay of
    whatever it wrote), or from its own checkpoint as the sweeper resumes any position; then close the parked items
    it supersedes, as the fork action would have, and record it (``OpsAction`` ``take-up-fork`` by ``sweeper``,
    ``record_take_up``). The statuses of what ran (none when the fork's checkpoint is gone, purged: nothing is
    recorded). Raises ``LookupError`` when this composition no longer has the fork's checkpoint type, as a resume of
    a position of that type does (``resume.load``): the sweeper passes the fork over instead of recording it."""
    fork = cut_at.fork
    if fork.from_type not in checkpoint_models():
        raise LookupError(f"no checkpoint type named {fork.from_type!r} in this composition")
    found = point(fork.trace_id, fork.from_id)
    if found is None or found.fork_id(fork.new_effect_keys) != fork.id:
        return []
    branches.forget(fork.trace_id)
    with actions.in_turn(fork.trace_id):  # as the fork action: a deadline's round runs before or after, not between
        ran: list[Execution]
        resent: list[str] = []
        if cut_at.row is None:
            ran = [engine().fork(found.log.pipeline, found.log.step, found.checkpoint, fork.branch)]
        else:
            ran, resent = _resume_own(cut_at.row)
        closed = close_superseded(found, new_effect_keys=fork.new_effect_keys)
        record_take_up(cut_at, ran, resent, closed)
    return [str(execution.first.status) for execution in ran] + resent


def record_take_up(cut_at: Cut, ran: list[Execution], resent: list[str], closed: Superseded) -> None:
    """The audit row of a take-up, as the fork action's (``checkout.fork_action``) with the sweeper for its actor:
    what ran (and the hand-offs sent again to a queue, ``resent``) and what it closed, the fork, and where it was
    taken up (``takenUpAtSeq``: the fork point's position, or the fork's own checkpoint's). No preview was shown
    (``preview_seq`` None). One row per fork and position (a deterministic id): a take-up sent again records nothing
    more. The fork's own row (``fork``, the operator's who and why) stays missing: running the same fork again
    records it."""
    fork = cut_at.fork
    seq = cut_at.key[1]
    if cut_at.row is None:
        why = "the fork's run was cut off before its first step committed: the sweep ran it again from its fork point"
    else:
        why = f"the fork's run was cut off after its checkpoint at position {seq}: the sweep resumed it there"
    actions.record(
        TAKE_UP_ACTION,
        fork.trace_id,
        actor=SWEEPER,
        reason=why,
        preview_seq=None,
        result={
            **actions.summarize(*ran),
            **({"resent": resent} if resent else {}),
            "closedParkedIds": [str(p.pk) for p in closed.items],
            "closedWaitIds": [str(w.opened.pk) for w in closed.waits],
            "forkId": str(fork.id),
            "parentBranch": fork.parent_branch,
            "fromId": str(fork.from_id),
            "takenUpAtSeq": seq,
        },
        target_id=fork.from_id if cut_at.row is None else cut_at.row.checkpoint_id,
        action_id=deterministic_id(TAKE_UP_ACTION, fork.id, seq),
    )


def _resume_own(row: CheckpointLog) -> tuple[list[Execution], list[str]]:
    """What comes next after the fork's own checkpoint, run on its branch (the checkpoint's), or handed to a queue
    again, as the sweeper's resume does (``resume.decide``): the runs, and the statuses of the hand-offs sent."""
    nexts, _ = recovery.decide(row)
    queued = row.publication and row.publication in queues.in_force(composition()).queued
    ran: list[Execution] = []
    resent: list[str] = []
    for nxt in nexts:
        if queued:
            resent.append(queues.resend(row.publication, nxt.value, nxt.pipeline.name))
            continue
        ran.append(engine().run(nxt.pipeline.name, nxt.value, step=nxt.step.name, key=nxt.key, trace_id=row.trace_id))
    return ran, resent
