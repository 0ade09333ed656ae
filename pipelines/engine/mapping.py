"""Mappers, applied: a subscription's ``Mapper`` turns the checkpoint handed off into what the consumer reads.

A pipeline that a subscription with a mapper feeds runs with its first step wrapped: when that step's input is the
mapper's source, ``ctx.input`` is the mapper's target, built from ``mapper.fields(source)`` with the source's id,
trace, key, time and branch (not stored). The item itself stays the stored source checkpoint, so the output id,
lineage, replays, parking and retries key on it, and a retried first step maps it again. Both paths (``Engine``
and ``BatchEngine``) look such a pipeline up here once per run of it, so a pipeline without a mapper pays nothing.
A mapper whose fields do not fit its target fails the step with a ``ContractError``, through the error sink.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from pipelines.contracts.declarations import Composition, Mapper, Pipeline
from pipelines.contracts.steps import Produced, StepContext
from pipelines.models import MAIN_BRANCH, Checkpoint
from pipelines.store.outputs import ENGINE_COLUMNS
from pipelines.store.store import store

# A composition is immutable: its mapped pipelines are made once (as is the engine, ``registry.engine()``).
_made: dict[int, tuple[Composition, dict[str, Pipeline]]] = {}


def mapped_pipelines(composition: Composition) -> dict[str, Pipeline]:
    """Every pipeline that a subscription with a mapper feeds, its first step mapping its input (by pipeline name)."""
    made = _made.get(id(composition))
    if made is None or made[0] is not composition:
        made = _made[id(composition)] = (composition, _mapped(composition))
    return made[1]


def _mapped(composition: Composition) -> dict[str, Pipeline]:
    by_pipeline: dict[str, dict[type[Checkpoint], Mapper]] = {}
    for subscription in composition.subscriptions:
        if subscription.mapper is not None:
            by_pipeline.setdefault(subscription.pipeline, {})[subscription.mapper.source] = subscription.mapper
    out: dict[str, Pipeline] = {}
    for spec in composition.pipelines:
        mappers = by_pipeline.get(spec.name)
        if mappers and spec.steps:
            first = dataclasses.replace(spec.steps[0], process=_mapping(spec.steps[0].process, mappers))
            out[spec.name] = dataclasses.replace(spec, steps=(first, *spec.steps[1:]))
    return out


def _mapping(
    process: Callable[[StepContext[Any]], Produced], mappers: dict[type[Checkpoint], Mapper]
) -> Callable[[StepContext[Any]], Produced]:
    @functools.wraps(process)
    def mapped(ctx: StepContext[Any]) -> Produced:
        mapper = mappers.get(type(ctx.input))
        if mapper is not None:
            ctx.input = target_of(mapper, ctx.input)
        return process(ctx)

    return mapped


def target_of(mapper: Mapper, source: Checkpoint) -> Checkpoint:
    """The mapper's target for ``source``: its fields from ``mapper.fields``, the engine's columns from the source."""
    target = store.new_row(mapper.target, mapper.fields(source))  # a misfit is a ContractError naming the field
    for column in ENGINE_COLUMNS:
        setattr(target, column, getattr(source, column))
    contract = mapper.target.contract
    target.contract_name, target.contract_version = contract.name, contract.version
    branch = mapper.target.branch_field
    if branch is not None:
        setattr(target, branch, getattr(source, source.branch_field) if source.branch_field else MAIN_BRANCH)
    return target
