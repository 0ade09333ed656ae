"""The audited purge's rows: what one batch removes, counted or deleted, and the tombstones it leaves.

A batch is a list of *targets*, each a queryset naming the rows of one table, in the order they can be deleted
(rows that point at others first: ``on_delete=PROTECT`` foreign keys, and the log and lineage before the trace).
``count`` answers a dry run with the same targets ``delete`` removes, so the two can never disagree. Deleting runs
``DELETE FROM <table> WHERE <pk> IN (<the target's SELECT>)`` directly: the insert-only querysets refuse
``delete()`` on purpose, and the triggers still refuse the statement unless the caller holds the purge flag
(``pipelines.store.db_roles.purge_allowed``). The derived tables follow by their own triggers (a delete is counted
back out), in the same transaction.

``trace_targets`` is the one place that knows every row of a trace: the checkpoints the log names (and the
insert-only children that point at them), the lineage links, the log rows, the parked items with their schedules,
claims, outcomes, holds and releases, the waits with their rounds and extensions, the forks, the sweeper's
resumptions and the trace's number. A storage layout with another way to drop whole orders (PostgreSQL
partitions) replaces ``delete_traces``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

from pipelines.models import (
    Checkpoint,
    CheckpointLog,
    ForkedFrom,
    InsertOnlyModel,
    LineageLink,
    ParkedItem,
    ParkingOutcome,
    PausedItem,
    PauseRelease,
    Resumption,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
    Tombstone,
    Trace,
    WaitEnded,
    WaitExtended,
    WaitOpened,
)
from pipelines.store import lookups
from pipelines.store.branches import model_named
from pipelines.store.lookups import LookUp

Target = tuple[type[models.Model], "models.QuerySet[Any]"]


@dataclass(frozen=True)
class TraceBatch:
    """Traces to remove whole: their numbers and ids, in the same order."""

    numbers: tuple[int, ...]
    trace_ids: tuple[uuid.UUID, ...]


def _base(model: type[models.Model]) -> models.QuerySet[Any]:
    return model._base_manager.all()


def checkpoint_targets(numbers: Sequence[int]) -> list[Target]:
    """The checkpoints the log names for these traces, each table's insert-only children first."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for type_name, checkpoint_id in CheckpointLog.objects.filter(trace_number__in=numbers).values_list(
        "checkpoint_type", "checkpoint_id"
    ):
        by_type.setdefault(type_name, []).append(checkpoint_id)
    targets: list[Target] = []
    for type_name in sorted(by_type):
        model = model_named(type_name)
        if model is None:
            raise LookupError(f"the checkpoint log names {type_name}, which no installed model is")
        ids = by_type[type_name]
        for relation in model._meta.related_objects:
            child = relation.related_model
            if relation.one_to_many and isinstance(child, type) and issubclass(child, InsertOnlyModel):
                targets.append((child, _base(child).filter(**{f"{relation.field.attname}__in": ids})))
        targets.append((model, _base(model).filter(pk__in=ids)))
    return targets


def trace_targets(batch: TraceBatch) -> list[Target]:
    """Every row of these traces, in deletion order."""
    ids, numbers = list(batch.trace_ids), list(batch.numbers)
    parked = _base(ParkedItem).filter(trace_id__in=ids).values("id")
    waits = _base(WaitOpened).filter(trace_id__in=ids).values("id")
    return [
        *checkpoint_targets(numbers),
        (PauseRelease, _base(PauseRelease).filter(hold__parked_id__in=parked)),
        (PausedItem, _base(PausedItem).filter(parked_id__in=parked)),
        (RetryScheduled, _base(RetryScheduled).filter(parked_id__in=parked)),
        (RetryClaim, _base(RetryClaim).filter(parked_id__in=parked)),
        (RetryTakeover, _base(RetryTakeover).filter(parked_id__in=parked)),
        (ParkingOutcome, _base(ParkingOutcome).filter(parked_id__in=parked)),
        (ParkedItem, _base(ParkedItem).filter(trace_id__in=ids)),
        (WaitEnded, _base(WaitEnded).filter(wait_id__in=waits)),
        (WaitExtended, _base(WaitExtended).filter(wait_id__in=waits)),
        (WaitOpened, _base(WaitOpened).filter(trace_id__in=ids)),
        (ForkedFrom, _base(ForkedFrom).filter(trace_id__in=ids)),
        (Resumption, _base(Resumption).filter(trace_id__in=ids)),
        (LineageLink, _base(LineageLink).filter(trace_number__in=numbers)),
        (CheckpointLog, _base(CheckpointLog).filter(trace_number__in=numbers)),
        (Trace, _base(Trace).filter(number__in=numbers)),
    ]


def count(targets: Iterable[Target]) -> dict[str, int]:
    """Rows per table the targets name (a dry run); tables without any are left out."""
    out: dict[str, int] = {}
    for model, queryset in targets:
        table, n = model._meta.db_table, queryset.count()
        if n:
            out[table] = out.get(table, 0) + n
    return out


def delete(targets: Iterable[Target]) -> dict[str, int]:
    """Delete the targets' rows, in order; rows deleted per table (tables without any left out). Needs the purge
    flag and a transaction."""
    out: dict[str, int] = {}
    q = connection.ops.quote_name
    for model, queryset in targets:
        table, pk = model._meta.db_table, model._meta.pk
        assert pk is not None and pk.column is not None
        sql, params = queryset.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            # Quoted names and the ORM's own compiled SELECT; every value is a parameter.
            cursor.execute(f"DELETE FROM {q(table)} WHERE {q(pk.column)} IN ({sql})", params)  # noqa: S608
            if cursor.rowcount > 0:
                out[table] = out.get(table, 0) + cursor.rowcount
    return out


def delete_traces(batch: TraceBatch) -> dict[str, int]:
    """The seam: remove every row of these traces (whole traces, never part of one); rows deleted per table."""
    return delete(trace_targets(batch))


def idempotency_keys(numbers: Sequence[int]) -> dict[uuid.UUID, str]:
    """Each trace's idempotency key, read from its first logged checkpoint (every checkpoint of a trace carries it)."""
    first: dict[int, tuple[int, str, uuid.UUID, uuid.UUID]] = {}
    for seq, number, type_name, checkpoint_id, trace_id in CheckpointLog.objects.filter(
        trace_number__in=numbers
    ).values_list("seq", "trace_number", "checkpoint_type", "checkpoint_id", "trace_id"):
        if number not in first or seq < first[number][0]:
            first[number] = (seq, type_name, checkpoint_id, trace_id)
    by_type: dict[str, dict[uuid.UUID, uuid.UUID]] = {}
    for _, type_name, checkpoint_id, trace_id in first.values():
        by_type.setdefault(type_name, {})[checkpoint_id] = trace_id
    keys: dict[uuid.UUID, str] = {}
    for type_name, traces in by_type.items():
        model = model_named(type_name)
        if model is None or not issubclass(model, Checkpoint):
            continue
        for checkpoint_id, key in _base(model).filter(pk__in=list(traces)).values_list("pk", "idempotency_key"):
            keys[traces[checkpoint_id]] = key
    return keys


def bury(keys: dict[uuid.UUID, str], trace_ids: Sequence[uuid.UUID], purge_id: uuid.UUID, at: datetime.datetime) -> int:
    """One tombstone per purged trace (its idempotency key, or empty if none was logged)."""
    Tombstone.objects.bulk_create(
        [Tombstone(trace_id=t, idempotency_key=keys.get(t, ""), purged_at=at, purge_id=purge_id) for t in trace_ids]
    )
    return len(trace_ids)


def tombstone(trace_id: uuid.UUID | str) -> Tombstone | None:
    """The tombstone of a purged trace, if this id names one."""
    try:
        value = trace_id if isinstance(trace_id, uuid.UUID) else uuid.UUID(str(trace_id))
    except ValueError:
        return None
    return lookups.first(Tombstone, pk=value)  # asked for every new order: SQL built once


def tombstone_look_up(trace_id: uuid.UUID) -> LookUp:
    """``tombstone``'s read (one names the trace, or none), as a look-up a caller may read with others
    (``storage.rows_together``, ``storage.read_along``)."""
    return (Tombstone, {"pk": trace_id}, (), 1)


def tombstone_for_key(key: str) -> Tombstone | None:
    """The tombstone of the purged trace an idempotency key started, if any."""
    return Tombstone.objects.filter(idempotency_key=key).order_by("purged_at").first()
