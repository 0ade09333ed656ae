"""Lineage: output ids from parents, replay look-ups, and the rows written with every checkpoint.

A checkpoint, its owned child rows, one ``LineageLink`` per parent and one ``CheckpointLog`` row are written
together, in the transaction of the step that produced them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction

from pipelines import ids, metrics
from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, LineageLink

if TYPE_CHECKING:
    from pipelines.declarations import Pipeline, Step


metrics.describe("tpfgo_checkpoints_inserted_total", "counter", "Checkpoints inserted, per type.")


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
    parent_id = parents[0].pk if parents else value.id
    if step.shape == "split":
        return ids.child_id(parent_id, step.name, 0)
    return ids.child_id(parent_id, step.name)


def existing(step: Step, out_id: uuid.UUID, parents: list[Any]) -> list[Checkpoint]:
    """The step's stored output for this input, if a previous run already wrote it (a replay)."""
    if step.shape == "split":
        if not parents or not step.model.objects.filter(pk=out_id).exists():
            return []
        child_ids = LineageLink.objects.filter(
            parent_id=parents[0].pk, child_type=step.model.__name__
        ).values_list("child_id", flat=True)
        children = list(step.model.objects.filter(pk__in=list(child_ids)))
        return sorted(children, key=lambda cp: int(cp.idempotency_key.rsplit(":", 1)[1]))
    for model in step.models:
        found = model.objects.filter(pk=out_id).first()
        if found is not None:
            return [found]
    return []


def winner(step: Step, row: Checkpoint) -> Checkpoint | None:
    """The stored checkpoint that made ``row``'s insert fail: the same id, or the same business key."""
    for model in step.models:
        found = model.objects.filter(pk=row.pk).first() or model.objects.filter(business_key=row.business_key).first()
        if found is not None:
            return found
    return None


def insert(
    rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]],
    parents: list[Any],
    spec: Pipeline,
    step: Step,
    trace_id: uuid.UUID,
) -> None:
    links: list[LineageLink] = []
    entries: list[CheckpointLog] = []
    last = step is spec.steps[-1]
    for row, children in rows:
        row.save()
        if children:
            type(children[0]).objects.bulk_create(list(children))
        name = type(row).__name__
        for ordinal, parent in enumerate(parents):
            links.append(
                LineageLink(
                    child_type=name,
                    child_id=row.pk,
                    parent_type=type(parent).__name__,
                    parent_id=parent.pk,
                    ordinal=ordinal,
                    trace_id=trace_id,
                )
            )
        entries.append(
            CheckpointLog(
                checkpoint_type=name,
                checkpoint_id=row.pk,
                trace_id=trace_id,
                pipeline=spec.name,
                step=step.name,
                publication=publication_of(spec, step, type(row), last),
                created_at=row.created_at,
            )
        )
    LineageLink.objects.bulk_create(links)
    CheckpointLog.objects.bulk_create(entries)
    # Counted when the step's transaction commits, so rolled-back work never shows.
    names = [entry.checkpoint_type for entry in entries]
    transaction.on_commit(lambda: _count_inserted(names))


def _count_inserted(names: list[str]) -> None:
    for name in names:
        metrics.inc("tpfgo_checkpoints_inserted_total", {"type": name})


def publication_of(spec: Pipeline, step: Step, model: type[Checkpoint], last: bool) -> str:
    if model in step.outcomes:
        return step.outcomes[model].name
    if last and model is spec.output.model:
        return spec.output.name
    return ""
