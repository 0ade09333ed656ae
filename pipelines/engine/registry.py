"""The composition in force (``TPFGO_COMPOSITION``) and the engine that runs it."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from pipelines.contracts.declarations import Composition
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
            for model in (*step.models, *(b.model for b in step.side_outputs)):
                out[model.__name__] = model
    return out
