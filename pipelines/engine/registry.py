"""The composition in force (``TPFGO_COMPOSITION``) and the engine that runs it."""

from __future__ import annotations

import dataclasses
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from pipelines.contracts.declarations import Composition, RetryPolicy, Step
from pipelines.engine.runner import Engine
from pipelines.models import Checkpoint


def composition() -> Composition:
    return _load(settings.TPFGO_COMPOSITION)


@cache
def _load(path: str) -> Composition:
    loaded: Composition = import_string(path)
    return loaded


def engine() -> Engine:
    return Engine(composition(), atomicity=settings.TPFGO_ATOMICITY)


def checkpoint_models() -> dict[str, type[Checkpoint]]:
    """Every checkpoint type the composition writes, by model name."""
    out: dict[str, type[Checkpoint]] = {}
    for pipeline in composition().pipelines:
        for step in pipeline.steps:
            for model in step.models:
                out[model.__name__] = model
    return out


def default_retry_policy() -> RetryPolicy:
    return RetryPolicy(**settings.TPFGO_RETRY_POLICY)


def retry_policy(pipeline: str, step: Step) -> RetryPolicy:
    """The step's declared policy (or the default), with ``TPFGO_RETRY_POLICIES["pipeline.step"]`` over it.

    The override lets a deployment (or a test) retune one step without touching the composition.
    """
    policy = step.retry or default_retry_policy()
    override = getattr(settings, "TPFGO_RETRY_POLICIES", {}).get(f"{pipeline}.{step.name}")
    return dataclasses.replace(policy, **override) if override else policy
