"""Fork a trace from one of its stored checkpoints: re-run what follows it, with today's code, on a new branch.

A domain (``checkout.fork_action``) decides whether a fork is allowed and previews it; this module finds the
checkpoint, says which steps may run after it (and which of them declared an external effect), records the fork
(``ForkedFrom``, whose id is the branch) and runs it through the engine, and closes the open parked items whose
input the fork supersedes. The same fork again (same checkpoint,
same effect-key choice) has the same id and the same checkpoint ids: it replays and inserts nothing.

A fork cut off between two of its steps has a position of its own, its last checkpoint, which the sweeper resumes
on the fork's branch like any other. One cut off before its first step committed has none: its fork point is the
parent's position, which the parent went on from. The sweeper finds such a fork (``cut``) and runs it again from
its fork point (``run_again``).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from pipelines.contracts.declarations import Composition, Pipeline
from pipelines.contracts.steps import Execution
from pipelines.engine.registry import composition, engine
from pipelines.engine.runner import branch_of
from pipelines.failures import parking
from pipelines.models import Checkpoint, CheckpointLog, ForkedFrom, ParkedItem, ParkingOutcome, WaitOpened
from pipelines.store import branches, clock


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


def superseded_items(fork: ForkPoint, *, new_effect_keys: bool) -> list[ParkedItem]:
    """The trace's open parked items (retrying, held or dead-lettered) the fork supersedes: those parked on a branch
    that is neither the fork's nor one it descends from (another fork's), and those whose input is a checkpoint of
    the trace that the fork's branch does not see (it sees its parent's view up to the fork point, and its own
    checkpoints). Their retry or redrive would run on a branch the order no longer shows, and a dead letter among
    them would stay on the dashboard and in ``tpfgo_dead_letters`` with nothing left to remediate."""
    rows = list(CheckpointLog.objects.of_trace(fork.trace_id).order_by("seq"))
    seen = {r.checkpoint_id for r in branches.visible_log(fork.trace_id, fork.branch, rows) if r.seq <= fork.log.seq}
    own = str(fork.fork_id(new_effect_keys))
    seen |= {checkpoint for checkpoint, branch in branches.branches_of(rows).items() if branch == own}
    logged = {r.checkpoint_id for r in rows}
    kept = lineage(fork, new_effect_keys=new_effect_keys)
    return [
        p
        for p in parking.open_items(fork.trace_id)
        if p.branch not in kept or (p.item_id in logged and p.item_id not in seen)
    ]


def lineage(fork: ForkPoint, *, new_effect_keys: bool) -> set[str]:
    """The branches the fork's view is made of: its own and those it descends from."""
    return {str(fork.fork_id(new_effect_keys)), *branches.cutoffs(fork.trace_id, fork.branch)}


def close_superseded(fork: ForkPoint, *, new_effect_keys: bool) -> list[ParkedItem]:
    """Cancel the open parked items the fork supersedes (their pending retries stop); none once they are closed,
    so the same fork run again closes nothing more."""
    closed = superseded_items(fork, new_effect_keys=new_effect_keys)
    for parked in closed:
        parking.resolve(parked, ParkingOutcome.CANCELLED, parking.last_attempt(parked), SUPERSEDED)
    return closed


def cut(since: datetime.datetime, before: datetime.datetime, limit: int) -> list[ForkedFrom]:
    """Forks recorded between ``since`` and ``before`` (the sweep's window, less the grace period) that are still
    their trace's active branch and left nothing on it: no checkpoint, no parked item, no wait. The run that recorded
    the fork died before the fork's first step committed (``start`` records the fork, then runs it). Forks are few
    (ops actions), so each one's trace is looked at here, not by the frontier's triggers."""
    newer = ForkedFrom.objects.filter(trace_id=OuterRef("trace_id"), created_at__gt=OuterRef("created_at"))
    recent = ForkedFrom.objects.filter(created_at__gte=since, created_at__lte=before).filter(~Exists(newer))
    return [fork for fork in recent.order_by("created_at")[:limit] if not _went_on(fork)]


def _went_on(fork: ForkedFrom) -> bool:
    """Anything of the fork's own: a checkpoint logged on its branch, an item parked on it, a wait opened on it."""
    on_branch = {"trace_id": fork.trace_id, "branch": fork.branch}
    if ParkedItem.objects.filter(**on_branch).exists() or WaitOpened.objects.filter(**on_branch).exists():
        return True
    after = list(CheckpointLog.objects.of_trace(fork.trace_id).filter(seq__gt=fork.from_seq))
    return fork.branch in branches.branches_of(after).values()


def run_again(fork: ForkedFrom) -> Execution | None:
    """Run a cut fork from its fork point, as ``start`` would have (a replay of whatever it did write), then close
    the parked items it supersedes, as the fork action would have; None when its checkpoint is gone (purged)."""
    found = point(fork.trace_id, fork.from_id)
    if found is None or found.fork_id(fork.new_effect_keys) != fork.id:
        return None
    branches.forget(fork.trace_id)
    execution = engine().fork(found.log.pipeline, found.log.step, found.checkpoint, fork.branch)
    close_superseded(found, new_effect_keys=fork.new_effect_keys)
    return execution
