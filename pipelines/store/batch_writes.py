"""The write side of the batched path: a batch's rows built, written in one statement, then classified.

Per item the outcome is the single path's: inserted (every row went in), replayed (its own id was stored),
lost (another id holds its business key). A partial item, or a conflict that is neither, makes the batch redo
item by item (``Redo``), where ``insert_one`` applies the single path's winner logic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from pipelines.contracts.declarations import Pipeline, Step
from pipelines.contracts.steps import Item, StepResult, StepStatus
from pipelines.models import Checkpoint, CheckpointChild, LineageLink, business_key_columns
from pipelines.store import observers, reads, writes

Rows = list[tuple[Checkpoint, Sequence[CheckpointChild]]]


@dataclass(slots=True)
class Entry:
    """One item of a batch: where its results go, its envelope, and whether this run inserted its value."""

    origin: int
    item: Item
    fresh: bool = False
    event: Mapping[str, Any] | None = None
    attempt: int = 1


@dataclass(slots=True, eq=False)
class Plan:
    """One leader item of a batch step (hashed by identity: outcomes are kept per plan)."""

    entry: Entry
    parents: list[Any]
    out_id: uuid.UUID


Outcome = tuple[StepResult, Item | None]


class Redo(Exception):
    """The batch cannot finish as one statement: roll it back and redo it item by item."""


# -- a batch step's identities ----------------------------------------------------------------------------------
def plans(step: Step, entries: Iterable[Entry]) -> list[Plan]:
    """Every entry's parents and output id (``writes.parents_of``, ``writes.output_id``)."""
    out = []
    for entry in entries:
        parents = writes.parents_of(entry.item.value, step)
        out.append(Plan(entry, parents, writes.output_id(parents, entry.item.value, step)))
    return out


# -- writing rows -----------------------------------------------------------------------------------------------
def insert_one(spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[Plan, Outcome]:
    """Item by item, as the single path writes it: a stored unique row is a replay or a loss to its winner."""
    done: dict[Plan, Outcome] = {}
    for plan, rows in built:
        if writes.insert(rows, plan.parents, spec, step, plan.entry.item.trace_id):
            transaction.on_commit(observers.notify)
            checkpoints = [row for row, _ in rows]
            done[plan] = (
                StepResult(spec.name, step.name, StepStatus.INSERTED, checkpoints),
                next_item(step, checkpoints, plan.entry.item),
            )
            continue
        winner = writes.winner(step, rows[0][0])
        status = StepStatus.REPLAYED if winner.pk == rows[0][0].pk else StepStatus.LOST
        found = existing(step, [plan]).get(plan.out_id, [winner]) if status is StepStatus.REPLAYED else [winner]
        nxt = next_item(step, found, plan.entry.item) if status is StepStatus.REPLAYED else None
        done[plan] = (StepResult(spec.name, step.name, status, found, winner=winner), nxt)
    return done


def insert_batch(spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[Plan, Outcome]:
    """Every plan's rows in one statement; then inserted, replayed or lost per plan (a partial plan redoes)."""
    if not built:
        return {}
    inserted = writes.insert_many(spec, step, [(rows, plan.parents, plan.entry.item.trace_id) for plan, rows in built])
    return _classify(spec, step, built, inserted)


def _classify(spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]], inserted: set[int]) -> dict[Plan, Outcome]:
    done: dict[Plan, Outcome] = {}
    conflicted: list[tuple[Plan, Rows]] = []
    fresh: list[Checkpoint] = []
    stored: Rows = []
    pipeline, name = spec.name, step.name
    for plan, rows in built:
        if len(rows) == 1:  # the usual item: one checkpoint
            if id(rows[0][0]) not in inserted:
                conflicted.append((plan, rows))
                continue
            checkpoints = [rows[0][0]]
        else:
            hits = [id(row) in inserted for row, _ in rows]
            if not all(hits):
                if any(hits):
                    raise Redo(f"step {step.name!r}: some rows of one item met a unique row")
                conflicted.append((plan, rows))
                continue
            checkpoints = [row for row, _ in rows]
        stored.extend(rows)
        fresh.extend(checkpoints)
        done[plan] = (
            StepResult(pipeline, name, StepStatus.INSERTED, checkpoints),
            next_item(step, checkpoints, plan.entry.item),
        )
    writes.mark_stored(stored, transaction.get_connection().alias)
    done.update(_winners(spec, step, conflicted))
    scope = reads.current()
    transaction.on_commit(lambda: _committed(fresh, scope))
    return done


def _winners(spec: Pipeline, step: Step, conflicted: list[tuple[Plan, Rows]]) -> dict[Plan, Outcome]:
    """A plan whose rows all met unique rows: its own id stored (a replay) or another id won its business key."""
    if not conflicted:
        return {}
    heads = [rows[0][0] for _, rows in conflicted]
    by_pk: dict[Any, Checkpoint] = {}
    by_key: dict[tuple[type[Any], str], Checkpoint] = {}
    for model in step.models:
        for found in model.objects.filter(pk__in=[row.pk for row in heads]):
            by_pk[found.pk] = found
        first, *_ = business_key_columns(model) or ("business_key",)  # the unique index's leading column
        wanted = {row.business_key for row in heads}
        for found in model.objects.filter(**{f"{first}__in": list({getattr(row, first) for row in heads})}):
            if found.business_key in wanted:
                by_key[(model, found.business_key)] = found
    replays = existing(step, [plan for plan, rows in conflicted if rows[0][0].pk in by_pk])
    done: dict[Plan, Outcome] = {}
    for plan, rows in conflicted:
        head = rows[0][0]
        winner = by_pk.get(head.pk) or next(
            (by_key[(m, head.business_key)] for m in step.models if (m, head.business_key) in by_key), None
        )
        if winner is None:
            raise Redo(f"step {step.name!r}: a unique conflict that is neither a replay nor a business key")
        if winner.pk == head.pk:
            stored = replays.get(plan.out_id, [winner])
            result = StepResult(spec.name, step.name, StepStatus.REPLAYED, stored, winner=winner)
            done[plan] = (result, next_item(step, stored, plan.entry.item))
        else:
            done[plan] = (StepResult(spec.name, step.name, StepStatus.LOST, [winner], winner=winner), None)
    reads.remember([*by_pk.values(), *by_key.values()])
    return done


def _committed(rows: list[Checkpoint], scope: reads.Scope | None) -> None:
    writes.committed_rows(rows, scope)
    observers.notify()


# -- look-ups ---------------------------------------------------------------------------------------------------
def existing(step: Step, plans: Iterable[Plan]) -> dict[uuid.UUID, list[Checkpoint]]:
    """``writes.existing`` for many plans: one query per table (two more for a split's children)."""
    plans = [p for p in plans if step.shape != "split" or p.parents]
    if not plans:
        return {}
    out: dict[uuid.UUID, list[Checkpoint]] = {}
    wanted = [p.out_id for p in plans]
    if step.shape == "split":
        heads = dict(step.model.objects.filter(pk__in=wanted).values_list("pk", "trace_id"))
        parent_of = {p.parents[0].pk: p.out_id for p in plans if p.out_id in heads}
        if parent_of:  # the first child is stored: its siblings are the parent's children in the same trace
            links = LineageLink.objects.of_traces(set(heads.values())).filter(
                parent_id__in=list(parent_of), child_type=step.model.__name__
            )
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
