"""The step-facing types: what a step receives (``StepContext``), what it may return (a field mapping, an
``Output``, a list of them, ``AWAIT`` or ``SKIP``), the envelope carried between steps (``Item``), a source
pipeline's ``Command``, and what one call into the engine did (``Execution`` of ``StepResult``).

They live below the runner so that declarations, the store and the failure path can name them without importing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipelines.models import Checkpoint, CheckpointChild

Status = Literal["inserted", "replayed", "lost", "awaiting", "skipped", "failed", "paused"]


@dataclass(frozen=True)
class Command:
    """The input of a source pipeline, before anything is stored: its root id and payload."""

    id: uuid.UUID
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Item:
    """The trace envelope carried between steps: the value, its trace and its preserved idempotency key."""

    value: Any
    trace_id: uuid.UUID
    key: str
    branch: str = "main"  # the lineage branch the item runs on (pipelines.models.MAIN_BRANCH, or a fork's id)


@dataclass(frozen=True)
class Output:
    """A step's output: field values by model attribute, the model for a decision step, owned child rows."""

    fields: Mapping[str, Any]
    model: type[Checkpoint] | None = None
    children: Sequence[CheckpointChild] = ()


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


AWAIT = _Signal("AWAIT")  # stop here until an external event resumes this step
SKIP = _Signal("SKIP")  # nothing to record; hand the input on to the next step


@dataclass
class StepContext:
    pipeline: str
    step: str
    input: Any
    output_id: uuid.UUID
    trace_id: uuid.UUID
    attempt: int
    event: Mapping[str, Any] | None
    now: datetime


@dataclass
class StepResult:
    pipeline: str
    step: str
    status: Status
    checkpoints: list[Checkpoint] = field(default_factory=list)
    winner: Checkpoint | None = None
    error: BaseException | None = None

    @property
    def lost_to(self) -> uuid.UUID | None:
        return self.winner.pk if self.status == "lost" and self.winner is not None else None


@dataclass
class Execution:
    """What one call into the engine did, step by step, across every pipeline it reached."""

    results: list[StepResult] = field(default_factory=list)

    def inserted(self) -> list[Checkpoint]:
        return [cp for r in self.results if r.status == "inserted" for cp in r.checkpoints]

    def failures(self) -> list[StepResult]:
        return [r for r in self.results if r.status == "failed"]

    def result(self, pipeline: str, step: str) -> StepResult | None:
        return next((r for r in self.results if r.pipeline == pipeline and r.step == step), None)

    @property
    def first(self) -> StepResult:
        return self.results[0]
