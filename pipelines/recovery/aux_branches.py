"""Optional aux branches a crash left unwritten: found by the sweeper, written through their side pipelines.

An optional aux branch runs after its primary committed (docs/architecture.md, "The branch policy"). A process that
dies in between leaves the primary stored and the trace gone on, so partial-progress recovery
(``pipelines.recovery.resume``) does not see it, and no parked item exists. This pass finds such primaries: a
``CheckpointLog`` row of a step with an optional aux branch, in the sweep's window and older than the grace period,
with no lineage link to a checkpoint of the branch's type and no parked item of its side pipeline. Running the side
pipeline on the primary is a replay where the row exists, so a duplicate sweep writes nothing twice. A branch whose
builder returned ``SKIP`` has no row: it is run again by each sweep while its primary is in the window (it records
nothing and costs its builder's reads).

On PostgreSQL the pass reads the log through a partial index per step with an optional branch (``created_at``,
only that step's rows: ``install_indexes``, after every migrate), so it costs that step's rows in the window, not
every row of the window: without it, 1.5 s of a sweep at 1,000,000 orders in the window went to reading the
window to find the search lane's ranked results (docs/performance.md, "The sweeper's cost").
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterator

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, QuerySet

from pipelines.contracts.declarations import Composition, Pipeline, side_pipeline_name
from pipelines.engine.registry import composition, engine
from pipelines.models import CheckpointLog, LineageLink, ParkedItem
from pipelines.recovery.resume import grace, load


def missing(now: datetime.datetime, since: datetime.datetime, limit: int) -> list[tuple[Pipeline, CheckpointLog]]:
    """Up to ``limit`` (side pipeline, primary's log row) pairs whose optional branch is neither written nor parked."""
    out: list[tuple[Pipeline, CheckpointLog]] = []
    for side, spec_name, step_name, primary_type, branch_type in _optional(composition()):
        rows = unwritten(side, spec_name, step_name, primary_type, branch_type, now, since)
        out.extend((side, row) for row in rows[: limit - len(out)])
        if len(out) >= limit:
            break
    return out


def unwritten(
    side: Pipeline,
    spec_name: str,
    step_name: str,
    primary_type: str,
    branch_type: str,
    now: datetime.datetime,
    since: datetime.datetime,
) -> QuerySet[CheckpointLog]:
    """The step's primaries in the window whose optional branch is neither written nor parked, oldest first."""
    written = LineageLink.objects.filter(
        trace_number=OuterRef("trace_number"), parent_id=OuterRef("checkpoint_id"), child_type=branch_type
    )
    parked = ParkedItem.objects.filter(pipeline=side.name, item_id=OuterRef("checkpoint_id"))
    return (
        CheckpointLog.objects.filter(pipeline=spec_name, step=step_name, checkpoint_type=primary_type)
        .filter(created_at__gte=since, created_at__lte=now - grace())
        .filter(~Exists(written), ~Exists(parked))
        .order_by("created_at")
    )


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


INDEX_PREFIX = "tpfgo_aux_"
_NAME = re.compile(r"^[\w.+-]+$")  # pipeline and step names, as the contract checks allow them


def index_name(pipeline: str, step: str) -> str:
    return INDEX_PREFIX + hashlib.sha256(f"{pipeline}\0{step}".encode()).hexdigest()[:16]


def install_indexes(connection: BaseDatabaseWrapper, comp: Composition | None = None) -> list[str]:
    """PostgreSQL: a partial index on the log's ``created_at`` for each step with an optional aux branch (created
    once: ``IF NOT EXISTS``; a partitioned log gives every partition, later ones too, its own), and the indexes of
    steps the composition no longer has dropped. Returns the names in force. Building one on a large log holds
    inserts into the log until it is built (the first migrate after such a step is added)."""
    if connection.vendor != "postgresql" or CheckpointLog._meta.db_table not in connection.introspection.table_names():
        return []
    table = CheckpointLog._meta.db_table
    wanted: dict[str, tuple[str, str]] = {}
    for _, spec_name, step_name, _, _ in _optional(comp or composition()):
        if not (_NAME.match(spec_name) and _NAME.match(step_name)):
            raise ValueError(f"unexpected characters in {spec_name!r}.{step_name!r}")
        wanted[index_name(spec_name, step_name)] = (spec_name, step_name)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
            [table, INDEX_PREFIX.replace("_", "\\_") + "%"],
        )
        present = {name for (name,) in cursor.fetchall()}
        for stale in sorted(present - set(wanted)):
            cursor.execute(f"DROP INDEX IF EXISTS {stale}")
        # Only what is missing: even IF NOT EXISTS would take the log's lock, and wait for peers' inserts.
        for name, (spec_name, step_name) in sorted(wanted.items()):
            if name in present:
                continue
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} (created_at) "
                f"WHERE pipeline = '{spec_name}' AND step = '{step_name}'"
            )
    return sorted(wanted)
