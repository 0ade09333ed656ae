"""The single write path behind the Store: output ids from parents, replay look-ups, and the rows written with every
checkpoint.

A checkpoint, its owned child rows, one ``LineageLink`` per parent and one ``CheckpointLog`` row are written
together, in the transaction of the step that produced them: one round trip on PostgreSQL (``postgres.py``), for
one item or for a batch, with no savepoint (a unique conflict skips the rows instead of aborting).

Inside a read scope (``pipelines.store.reads``) the rows a step inserted are remembered once their transaction
commits; a step whose parents were all inserted by this request skips its replay look-up (nothing can be
stored for an input that did not exist before; a concurrent duplicate still meets the unique insert).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import prometheus_client
from django.db import IntegrityError, connection, transaction

from pipelines.contracts import ids
from pipelines.models import (
    Checkpoint,
    CheckpointChild,
    CheckpointLog,
    LineageLink,
    as_trace_uuid,
    business_key_filter,
)
from pipelines.store import fast, lookups, reads, traces, vendor
from pipelines.store.fast import Table
from pipelines.store.rows import Dependent

if TYPE_CHECKING:
    from pipelines.contracts.declarations import Pipeline, Step


CHECKPOINTS_INSERTED = prometheus_client.Counter(
    "tpfgo_checkpoints_inserted_total", "Checkpoints inserted, per type.", ["type"]
)


def parents_of(value: Any, step: Step) -> list[Any]:
    """The checkpoints a step's output descends from; a merge sorts them, so arrival order never matters."""
    if step.shape == "merge":
        return sorted(value, key=lambda cp: str(cp.pk))
    if isinstance(value, Checkpoint):
        return [value]
    return []


def output_id(parents: list[Any], value: Any, step: Step) -> uuid.UUID:
    if step.shape == "merge":
        return ids.merge_id([p.pk for p in parents], step.name)
    parent_id = parents[0].id if parents else value.id  # a checkpoint's pk is its ``id``: no property call
    if step.shape == "split":
        return ids.child_id(parent_id, step.name, 0)
    return ids.child_id(parent_id, step.name)


def existing(step: Step, out_id: uuid.UUID, parents: list[Any]) -> list[Checkpoint]:
    """The step's stored output for this input, if a previous run already wrote it (a replay)."""
    if parents and reads.all_fresh(parents):
        return []
    found = _existing(step, out_id, parents)
    reads.remember(found)
    return found


def _existing(step: Step, out_id: uuid.UUID, parents: list[Any]) -> list[Checkpoint]:
    if step.shape == "split":
        trace_id = step.model.objects.filter(pk=out_id).values_list("trace_id", flat=True).first() if parents else None
        if trace_id is None:
            return []
        # The first child is stored: its siblings are the parent's children in the same trace.
        child_ids = (
            LineageLink.objects.of_trace(trace_id)
            .filter(parent_id=parents[0].pk, child_type=step.model.__name__)
            .values_list("child_id", flat=True)
        )
        children = list(step.model.objects.filter(pk__in=list(child_ids)))
        return sorted(children, key=lambda cp: int(cp.idempotency_key.rsplit(":", 1)[1]))
    models = step.models if len(step.models) == 1 else _holder(step, out_id)
    for model in models:
        found = lookups.first(model, pk=out_id)
        if found is not None:
            return [found]
    return []


def _holder(step: Step, out_id: uuid.UUID) -> tuple[type[Checkpoint], ...]:
    """Which of a decision step's tables holds ``out_id``: one probe instead of one query per outcome."""
    qn = connection.ops.quote_name
    probe = " UNION ALL ".join(
        f"SELECT {n} FROM {qn(model._meta.db_table)} WHERE {qn(str(model._meta.pk.column))} = %s"  # noqa: S608
        for n, model in enumerate(step.models)
    )
    value = step.model._meta.pk.get_db_prep_value(out_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(probe, [value] * len(step.models))
        hit = cursor.fetchone()
    return (step.models[hit[0]],) if hit else ()


def decides(step: Step, event: Any) -> bool:
    """A command that decides: run with an event, by a step whose models declare ``decision_fields``."""
    return event is not None and any(model.decision_fields for model in step.models)


def replays(stored: Checkpoint, row: Checkpoint, decided: bool) -> bool:
    """``stored`` kept ``row`` out: the same command again (a replay), or else a loss.

    The same id is the same command, unless the command decides (``decides``): then it must also have decided
    the same thing (same model, same ``decision_fields``), else it lost to the stored decision.
    """
    if stored.pk != row.pk:
        return False
    if not decided:
        return True
    fields = type(row).decision_fields
    return type(stored) is type(row) and all(getattr(stored, f) == getattr(row, f) for f in fields)


def winner(step: Step, row: Checkpoint) -> Checkpoint:
    """The stored checkpoint that kept ``row`` out: the same id (a replay) or the same business key (a loss).

    Any other unique row is an error of the step (``IntegrityError``), like any failed insert.
    """
    for model in step.models:
        found = lookups.first(model, pk=row.pk) or lookups.first(model, **business_key_filter(row))
        if found is not None:
            return found
    raise IntegrityError(f"step {step.name!r}: its output met a stored unique row")


def insert(
    rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]],
    parents: list[Any],
    spec: Pipeline,
    step: Step,
    trace_id: uuid.UUID,
) -> bool:
    """Write one item's rows in one go; ``False`` if its checkpoints met stored unique rows (nothing written).

    No savepoint: the checkpoints go in with ``ON CONFLICT DO NOTHING``, which never aborts the transaction,
    and the rows that depend on them only for those inserted. Some but not all of them inserted is an error.
    """
    inserted = insert_many(spec, step, [(rows, parents, trace_id)])
    if not inserted:
        return False
    if len(inserted) < len(rows):
        raise IntegrityError(f"step {step.name!r}: some of one item's checkpoints met stored unique rows")
    mark_inserted(rows)
    return True


def insert_many(
    spec: Pipeline,
    step: Step,
    items: Sequence[tuple[Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]], list[Any], uuid.UUID]],
) -> set[int]:
    """Write the rows of many items (``(rows, parents, trace_id)``), one statement on PostgreSQL.

    Checkpoints that meet a stored unique row are skipped, with everything that depends on them (owned child
    rows, lineage links, log rows). Returns ``id()`` of every checkpoint actually inserted.
    """
    connection = transaction.get_connection()  # the wrapper itself, not the per-access proxy
    links, log_table = fast.table(LineageLink, connection), fast.table(CheckpointLog, connection)
    checkpoints: dict[Table, list[tuple[Any, ...]]] = {}
    children: dict[Table, Dependent] = {}
    link_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []
    prepared: dict[int, Any] = {}  # id(row) -> its prepared pk, to match what came back
    last = step is spec.steps[-1]
    link_row, log_row = _link_row(connection), _log_row(connection)
    uuid_prep = links.preps[links.index("parent_id")]
    time_prep = links.preps[links.index("trace_created_at")]
    # A source pipeline's first step starts its traces: insert their numbers first (a replay finds them after).
    born = step is spec.steps[0] and spec.source_namespace is not None
    # A trace's number and creation time (the partition key), as stored: a replay writes its first run's values.
    stamps = traces.stamps([trace_id for _, _, trace_id in items], new=born)
    # Per model, once per call: its table, its name, the publication its log rows carry, where its rows go.
    per_model: dict[type[Checkpoint], tuple[Table, str, str, list[tuple[Any, ...]]]] = {}
    pipeline, step_name = spec.name, step.name
    for rows, parents, trace_id in items:
        parent_ids = [(type(parent).__name__, uuid_prep(parent.id, connection)) for parent in parents]
        trace = uuid_prep(trace_id, connection)
        number, started = stamps[trace_id if type(trace_id) is uuid.UUID else as_trace_uuid(trace_id)]
        started = time_prep(started, connection)
        for row, owned in rows:
            known = per_model.get(type(row))
            if known is None:
                known = per_model[type(row)] = _per_model(spec, step, type(row), last, checkpoints, connection)
            tbl, kind, publication, table_rows = known
            values = tbl.values(row, connection)
            pk, created = values[tbl.pk_index], values[tbl.created_index]
            prepared[id(row)] = pk
            table_rows.append(values)
            if owned:
                _children(row, owned, children, connection)
            for ordinal, (parent_type, parent_id) in enumerate(parent_ids):
                link_rows.append(link_row(kind, pk, parent_type, parent_id, ordinal, trace, number, started))
            log_rows.append(log_row(kind, pk, trace, number, pipeline, step_name, publication, created, started))
    dependents = [
        *children.values(),
        Dependent(links, "child_id", link_rows),
        Dependent(log_table, "checkpoint_id", log_rows),
    ]
    inserted = vendor.insert_batch(connection, checkpoints, dependents)
    if len(inserted) == len(prepared):  # every checkpoint went in (ids are unique within a call)
        return set(prepared)
    return {key for key, pk in prepared.items() if pk in inserted}


def _per_model(
    spec: Pipeline,
    step: Step,
    model: type[Checkpoint],
    last: bool,
    checkpoints: dict[Table, list[tuple[Any, ...]]],
    connection: Any,
) -> tuple[Table, str, str, list[tuple[Any, ...]]]:
    """A model's table, its name, the publication its log rows carry, and the list its rows go in."""
    tbl = fast.table(model, connection)
    return tbl, model.__name__, publication_of(spec, step, model, last), checkpoints.setdefault(tbl, [])


def _children(
    row: Checkpoint, owned: Sequence[CheckpointChild], children: dict[Table, Dependent], connection: Any
) -> None:
    """A checkpoint's owned child rows, prepared, with the table they go in."""
    for child in owned:
        ctbl = fast.table(type(child), connection)
        if ctbl not in children:
            children[ctbl] = Dependent(ctbl, fast.owner_column(type(child), type(row)), [])
        children[ctbl].rows.append(ctbl.values(child, connection))


def mark_inserted(rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]]) -> None:
    """The rows are stored now: instances say so, a checkpoint carries its child rows as if prefetched, and the
    checkpoints are counted and remembered for the request when the transaction commits (never if it rolls back)."""
    connection = transaction.get_connection()
    fast.mark_stored(rows, connection.alias)
    committed = [row for row, _ in rows]
    scope = reads.current()
    connection.on_commit(lambda: committed_rows(committed, scope))


def mark_stored(rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]], alias: str | None = None) -> None:
    """Instances of inserted rows say they are stored; a checkpoint carries its child rows as if prefetched.

    ``alias``: the connection's, if the caller knows it (a batch marks thousands of rows; each look-up of the
    connection goes through a thread-local).
    """
    fast.mark_stored(rows, transaction.get_connection().alias if alias is None else alias)


def _link_row(connection: Any) -> Any:
    """A ``LineageLink`` row from values already prepared for the database (its checkpoint's, the parents')."""
    return _arranged(LineageLink, _LINK_COLUMNS, connection)


def _log_row(connection: Any) -> Any:
    """A ``CheckpointLog`` row from prepared values (``seq`` comes from the database)."""
    return _arranged(CheckpointLog, _LOG_COLUMNS, connection)


_LINK_COLUMNS = (
    "child_type", "child_id", "parent_type", "parent_id", "ordinal", "trace_id", "trace_number", "trace_created_at",
)  # fmt: skip
_LOG_COLUMNS = (
    "checkpoint_type", "checkpoint_id", "trace_id", "trace_number", "pipeline", "step", "publication", "created_at",
    "trace_created_at",
)  # fmt: skip
# The row builders of the engine's own tables, per vendor: made once (every step writes with them).
_arrangers: dict[tuple[type[Any], str], Any] = {}


def _arranged(model: type[Any], columns: tuple[str, ...], connection: Any) -> Any:
    found = _arrangers.get((model, connection.vendor))
    if found is None:
        found = _arrangers[model, connection.vendor] = fast.table(model, connection).arranger(*columns)
    return found


def committed_rows(rows: list[Checkpoint], scope: reads.Scope | None) -> None:
    """After the inserting transaction committed: count the checkpoints, remember them for the request."""
    for model, count in Counter(map(type, rows)).items():  # a batch step's rows: counted in C
        _inserted_series(model).inc(count)
    if scope is not None:
        scope.remember(rows, fresh=True)


# The labelled series of each checkpoint model, found once.
_inserted: dict[type[Checkpoint], Any] = {}


def _inserted_series(model: type[Checkpoint]) -> Any:
    series = _inserted.get(model)
    if series is None:
        series = _inserted[model] = CHECKPOINTS_INSERTED.labels(model.__name__)
    return series


def publication_of(spec: Pipeline, step: Step, model: type[Checkpoint], last: bool) -> str:
    if model in step.outcomes:
        return step.outcomes[model].name
    if last and model is spec.output.model:
        return spec.output.name
    return ""
