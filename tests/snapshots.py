"""Compare what two runs stored: every insert-only row, minus what depends on the clock or the insert order."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import connection, models

from pipelines.models import CheckpointChild, InsertOnlyModel, Ledger, Trace
from pipelines.store.db_roles import purge_allowed

# Ledger rows whose content is the engine's bookkeeping of one run (compared by count only, if at all).
_RUN_LEDGERS = {"ErrorSinkEntry", "ParkedItem", "RetryScheduled", "RetryClaim", "ParkingOutcome", "OpsAction"}


def _comparable(model: type[models.Model]) -> list[str]:
    """Columns that must be equal between two runs: not timestamps, not database-generated keys."""
    out = []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.DateTimeField) or isinstance(field, models.AutoField):
            continue
        out.append(field.attname)
    return out


def _models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if issubclass(m, InsertOnlyModel) and m.__name__ not in _RUN_LEDGERS and not m._meta.proxy
    ]


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every checkpoint, owned child, lineage link and log row, as sorted tuples of the comparable columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    # A trace's number is database-generated: a row is compared by the trace its number names, which must be
    # the row's own trace.
    traces = {str(number): str(trace_id) for number, trace_id in Trace.objects.values_list("number", "trace_id")}
    for model in _models():
        columns = _comparable(model)
        rows = [tuple(str(v) for v in row) for row in model.objects.values_list(*columns)]
        if "trace_number" in columns:
            at, own = columns.index("trace_number"), columns.index("trace_id")
            rows = [(*row[:at], traces.get(row[at], "no trace " + row[at]), *row[at + 1 :]) for row in rows]
            assert all(row[at] == row[own] for row in rows), f"{model.__name__}: a row's trace number is another's"
        if rows:
            out[model._meta.label] = sorted(rows)
    return out


def wipe() -> None:
    """Delete every insert-only row (the audited purge path): children, then checkpoints, then ledgers."""

    def rank(model: type[models.Model]) -> int:
        if issubclass(model, CheckpointChild):
            return 0
        if issubclass(model, Ledger):
            return 2 if model.__name__ != "ParkedItem" else 3
        return 1

    tables = sorted((m for m in apps.get_models() if issubclass(m, InsertOnlyModel) and not m._meta.proxy), key=rank)
    with purge_allowed("test: run the same items again on an empty database"), connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
