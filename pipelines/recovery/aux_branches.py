"""Optional aux branches a crash left unwritten: found by the sweeper, written through their side pipelines.

An optional aux branch runs after its primary committed (docs/architecture.md, "The branch policy"). A process that
dies in between leaves the primary stored and the trace gone on, so partial-progress recovery
(``pipelines.recovery.resume``) does not see it, and no parked item exists. This pass finds such primaries: a
``CheckpointLog`` row of a step with an optional aux branch, in the sweep's window and older than the grace period,
with no lineage link to a checkpoint of the branch's type and no parked item of its side pipeline. Running the side
pipeline on the primary is a replay where the row exists, so a duplicate sweep writes nothing twice. A branch whose
builder returned ``SKIP`` has no row: it is run again by each sweep while its primary is in the window (it records
nothing and costs its builder's reads).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.db.models import Exists, OuterRef

from pipelines.contracts.declarations import Composition, Pipeline, side_pipeline_name
from pipelines.engine.registry import composition, engine
from pipelines.models import CheckpointLog, LineageLink, ParkedItem
from pipelines.recovery.resume import grace, load


def missing(now: datetime.datetime, since: datetime.datetime, limit: int) -> list[tuple[Pipeline, CheckpointLog]]:
    """Up to ``limit`` (side pipeline, primary's log row) pairs whose optional branch is neither written nor parked."""
    out: list[tuple[Pipeline, CheckpointLog]] = []
    for side, spec_name, step_name, primary_type, branch_type in _optional(composition()):
        written = LineageLink.objects.filter(
            trace_number=OuterRef("trace_number"), parent_id=OuterRef("checkpoint_id"), child_type=branch_type
        )
        parked = ParkedItem.objects.filter(pipeline=side.name, item_id=OuterRef("checkpoint_id"))
        rows = (
            CheckpointLog.objects.filter(pipeline=spec_name, step=step_name, checkpoint_type=primary_type)
            .filter(created_at__gte=since, created_at__lte=now - grace())
            .filter(~Exists(written), ~Exists(parked))
            .order_by("created_at")
        )
        out.extend((side, row) for row in rows[: limit - len(out)])
        if len(out) >= limit:
            break
    return out


def _optional(comp: Composition) -> Iterator[tuple[Pipeline, str, str, str, str]]:
    for spec in comp.pipelines:
        for step in spec.steps:
            for branch in step.side_outputs:
                if branch.optional:
                    side = comp.pipeline(side_pipeline_name(spec.name, branch.name))
                    yield side, spec.name, step.name, step.model.__name__, branch.model.__name__


def write(side: Pipeline, row: CheckpointLog) -> str:
    """Run the branch's side pipeline on the stored primary; its failure parks it like any other."""
    primary = load(row)
    execution = engine().run(side.name, primary, key=primary.idempotency_key, trace_id=row.trace_id)
    return execution.first.status
