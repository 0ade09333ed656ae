"""The composition in force (``TPFGO_COMPOSITION``) and the engine that runs it.

The engine is made once per composition and atomicity (``TPFGO_ATOMICITY``), as its mapped pipelines are
(``pipelines.engine.mapping``): another composition (a test's ``TPFGO_COMPOSITION``) or atomicity makes a new one.
An ``Engine`` keeps nothing of a run, so every thread of a process (gunicorn's, a Celery worker's) shares it; the
slot holds one tuple, read and replaced whole, so a thread sees the old engine or the new one, never a mix (two
threads that both find it stale each make one, and either serves).
"""

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


_made: tuple[Composition, str, Engine] | None = None  # the engine made last, with what it was made for


def engine() -> Engine:
    """The engine of the composition in force, made the first time it is asked for (and again when it changed)."""
    global _made
    comp, atomicity = composition(), settings.TPFGO_ATOMICITY
    made = _made
    if made is None or made[0] is not comp or made[1] != atomicity:
        made = _made = (comp, atomicity, Engine(comp, atomicity=atomicity))
    return made[2]


def checkpoint_models() -> dict[str, type[Checkpoint]]:
    """Every checkpoint type the composition writes, by model name."""
    out: dict[str, type[Checkpoint]] = {}
    for pipeline in composition().pipelines:
        for step in pipeline.steps:
            for model in (*step.models, *(b.model for b in step.side_outputs)):
                out[model.__name__] = model
    return out
