"""The write side of the batched path: a batch's rows built, written in one statement, then classified.

Per item the outcome is the single path's: inserted (every row went in), replayed (its own id was stored),
lost (another id holds its business key). A partial item, or a conflict that is neither, makes the batch redo
item by item (``Redo``), where ``insert_one`` applies the single path's savepoint-and-winner logic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from pipelines import lineage, observers, reads, sqlbulk
from pipelines.declarations import Pipeline, Step
from pipelines.errors import ContractError
from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, LineageLink
from pipelines.runner import Item, Status, StepResult, build_rows

Rows = list[tuple[Checkpoint, Sequence[CheckpointChild]]]


@dataclass(frozen=True)
class Entry:
    """One item of a batch: where its results go, its envelope, and whether this run inserted its value."""

    origin: int
    item: Item
    fresh: bool = False
    event: Mapping[str, Any] | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Plan:
    entry: Entry
    parents: list[Any]
    out_id: uuid.UUID


Outcome = tuple[StepResult, Item | None]


class Redo(Exception):
    """The batch cannot finish as one statement: roll it back and redo it item by item."""


# -- building and writing rows ---------------------------------------------------------------------------------
def build(step: Step, item: Item, parents: list[Any], output_id: uuid.UUID, outcome: Any, now: Any) -> Rows:
    """The step's output rows, exactly as the single path builds them."""
    return build_rows(step, item, parents, output_id, outcome, now)


def insert_one(spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[uuid.UUID, Outcome]:
    """One item, as the single path writes it: a savepoint, and the winner's look-up on a unique conflict."""
    done: dict[uuid.UUID, Outcome] = {}
    for plan, rows in built:
        try:
            with transaction.atomic():
                lineage.insert(rows, plan.parents, spec, step, plan.entry.item.trace_id)
                transaction.on_commit(observers.notify)
        except IntegrityError:
            winner = lineage.winner(step, rows[0][0])
            if winner is None:
                raise
            status: Status = "replayed" if winner.pk == rows[0][0].pk else "lost"
            found = existing(step, [plan]).get(plan.out_id, [winner]) if status == "replayed" else [winner]
            nxt = next_item(step, found, plan.entry.item) if status == "replayed" else None
            done[plan.out_id] = (StepResult(spec.name, step.name, status, found, winner=winner), nxt)
            continue
        checkpoints = [row for row, _ in rows]
        done[plan.out_id] = (
            StepResult(spec.name, step.name, "inserted", checkpoints),
            next_item(step, checkpoints, plan.entry.item),
        )
    return done


def insert_batch(spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[uuid.UUID, Outcome]:
    """Every plan's rows in one statement; then inserted, replayed or lost per plan (a partial plan redoes)."""
    connection = transaction.get_connection()  # the wrapper itself, not the per-access proxy
    if not built:
        return {}
    tables: dict[type[Any], sqlbulk.Table] = {}

    def table(model: type[Any]) -> sqlbulk.Table:
        if model not in tables:
            tables[model] = sqlbulk.table(model, connection)
        return tables[model]

    links, log_table = table(LineageLink), table(CheckpointLog)
    checkpoints: dict[sqlbulk.Table, list[tuple[Any, ...]]] = {}
    children: dict[sqlbulk.Table, sqlbulk.Dependent] = {}
    link_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []
    prepared: dict[int, Any] = {}  # id(row) -> its prepared pk, to match what came back
    last = step is spec.steps[-1]
    for plan, rows in built:
        trace_id = plan.entry.item.trace_id
        for row, owned in rows:
            tbl = table(type(row))
            values = tbl.values(row, connection)
            prepared[id(row)] = values[tbl.index("id")]
            checkpoints.setdefault(tbl, []).append(values)
            for child in owned:
                ctbl = table(type(child))
                if ctbl not in children:
                    children[ctbl] = sqlbulk.Dependent(ctbl, _owner_column(type(child), type(row)), [])
                children[ctbl].rows.append(ctbl.values(child, connection))
            for ordinal, parent in enumerate(plan.parents):
                link_rows.append(links.prepare_map(lineage.link(row, parent, ordinal, trace_id), connection))
            log_rows.append(log_table.prepare_map(lineage.log_entry(row, spec, step, trace_id, last), connection))
    dependents = [
        *children.values(),
        sqlbulk.Dependent(links, "child_id", link_rows),
        sqlbulk.Dependent(log_table, "checkpoint_id", log_rows),
    ]
    inserted = sqlbulk.insert_batch(connection, checkpoints, dependents)
    return _classify(spec, step, built, {key for key, pk in prepared.items() if pk in inserted})


def _classify(
    spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]], inserted: set[int]
) -> dict[uuid.UUID, Outcome]:
    connection = transaction.get_connection()  # the wrapper itself, not the per-access proxy
    done: dict[uuid.UUID, Outcome] = {}
    conflicted: list[tuple[Plan, Rows]] = []
    fresh: list[Checkpoint] = []
    for plan, rows in built:
        hits = [id(row) in inserted for row, _ in rows]
        if all(hits):
            checkpoints = [row for row, _ in rows]
            for row, owned in rows:
                for obj in (row, *owned):
                    obj._state.adding, obj._state.db = False, connection.alias
                lineage.attach_children(row, owned)
            fresh.extend(checkpoints)
            done[plan.out_id] = (
                StepResult(spec.name, step.name, "inserted", checkpoints),
                next_item(step, checkpoints, plan.entry.item),
            )
        elif any(hits):
            raise Redo(f"step {step.name!r}: some rows of one item met a unique row")
        else:
            conflicted.append((plan, rows))
    done.update(_winners(spec, step, conflicted))
    scope = reads.current()
    transaction.on_commit(lambda: _committed(fresh, scope))
    return done


def _winners(spec: Pipeline, step: Step, conflicted: list[tuple[Plan, Rows]]) -> dict[uuid.UUID, Outcome]:
    """A plan whose rows all met unique rows: its own id stored (a replay) or another id won its business key."""
    if not conflicted:
        return {}
    heads = [rows[0][0] for _, rows in conflicted]
    by_pk: dict[Any, Checkpoint] = {}
    by_key: dict[tuple[type[Any], str], Checkpoint] = {}
    for model in step.models:
        for found in model.objects.filter(pk__in=[row.pk for row in heads]):
            by_pk[found.pk] = found
        for found in model.objects.filter(business_key__in=[row.business_key for row in heads]):
            by_key[(model, found.business_key)] = found
    replays = existing(step, [plan for plan, rows in conflicted if rows[0][0].pk in by_pk])
    done: dict[uuid.UUID, Outcome] = {}
    for plan, rows in conflicted:
        head = rows[0][0]
        winner = by_pk.get(head.pk) or next(
            (by_key[(m, head.business_key)] for m in step.models if (m, head.business_key) in by_key), None
        )
        if winner is None:
            raise Redo(f"step {step.name!r}: a unique conflict that is neither a replay nor a business key")
        if winner.pk == head.pk:
            stored = replays.get(plan.out_id, [winner])
            result = StepResult(spec.name, step.name, "replayed", stored, winner=winner)
            done[plan.out_id] = (result, next_item(step, stored, plan.entry.item))
        else:
            done[plan.out_id] = (StepResult(spec.name, step.name, "lost", [winner], winner=winner), None)
    reads.remember([*by_pk.values(), *by_key.values()])
    return done


def _committed(rows: list[Checkpoint], scope: reads.Scope | None) -> None:
    lineage.committed_rows(rows, scope)
    observers.notify()


def _owner_column(child: type[Any], owner: type[Any]) -> str:
    for field in child._meta.concrete_fields:
        if field.is_relation and field.related_model is owner:
            return str(field.attname)
    raise ContractError(f"{child.__name__} has no foreign key to {owner.__name__}")


# -- look-ups ---------------------------------------------------------------------------------------------------
def existing(step: Step, plans: Iterable[Plan]) -> dict[uuid.UUID, list[Checkpoint]]:
    """``lineage.existing`` for many plans: one query per table (two more for a split's children)."""
    plans = [p for p in plans if step.shape != "split" or p.parents]
    if not plans:
        return {}
    out: dict[uuid.UUID, list[Checkpoint]] = {}
    wanted = [p.out_id for p in plans]
    if step.shape == "split":
        heads = set(step.model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        parent_of = {p.parents[0].pk: p.out_id for p in plans if p.out_id in heads}
        if parent_of:
            links = LineageLink.objects.filter(parent_id__in=list(parent_of), child_type=step.model.__name__)
            pairs = list(links.values_list("parent_id", "child_id"))
            rows = {row.pk: row for row in step.model.objects.filter(pk__in=[child for _, child in pairs])}
            for parent_id, child_id in pairs:
                out.setdefault(parent_of[parent_id], []).append(rows[child_id])
            for children in out.values():
                children.sort(key=lambda cp: int(cp.idempotency_key.rsplit(":", 1)[1]))
    else:
        for model in step.models:
            remaining = [pk for pk in wanted if pk not in out]
            if remaining:
                for row in model.objects.filter(pk__in=remaining):
                    out[row.pk] = [row]
    reads.remember(row for rows in out.values() for row in rows)
    return out


def next_item(step: Step, checkpoints: list[Checkpoint], item: Item) -> Item:
    value: Any = checkpoints if step.shape == "split" else checkpoints[0]
    return Item(value, item.trace_id, item.key)
