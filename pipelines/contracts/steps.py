"""The step-facing types: what a step receives (``StepContext[In]``), what it returns (``Produced``: an
``Output``, a ``Split`` of them, ``AWAIT`` or ``SKIP``), the envelope carried between steps (``Item``), a source
pipeline's ``Command``, and what one call into the engine did (``Execution`` of ``StepResult``, each with a
``StepStatus``).

``Produced`` is a closed union: the runner matches it exhaustively (mypy checks that no case is missing), and
anything else a step returns is a ``ContractError``. They live below the runner so that declarations, the store
and the failure path can name them without importing it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeAlias, final

from typing_extensions import TypeVar

if TYPE_CHECKING:
    from pipelines.models import Checkpoint, CheckpointChild

# What a step reads: its input checkpoint model (a union for a step fed by several pipelines), a list of them
# (a merge), or a Command (a source step). The engine runs steps of every input: a bare ``Step`` is ``Step[Any]``.
In = TypeVar("In", default=Any)


class StepStatus(enum.StrEnum):
    """What one step run did. A ``StrEnum``: its values are the labels of metrics, logs and spans."""

    INSERTED = "inserted"  # its checkpoint(s) went in
    REPLAYED = "replayed"  # already stored: nothing inserted, the stored rows travel on
    LOST = "lost"  # another path wrote the one checkpoint of its business key
    AWAITING = "awaiting"  # the step returned AWAIT: stopped until an event resumes it
    SKIPPED = "skipped"  # the step returned SKIP: nothing recorded, its input travels on
    FAILED = "failed"  # it raised: recorded in the error sink and parked
    PAUSED = "paused"  # its step is paused: held, nothing run, until the pause is lifted


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


# ``Output`` and ``StepContext`` are made for every step of every item: plain slotted dataclasses, since a frozen
# dataclass's ``__init__`` sets each field through ``object.__setattr__`` (several times slower). Neither is meant
# to be changed after it is made.
@final
@dataclass(slots=True)
class Output:
    """One checkpoint a step produces: field values by model attribute, the model (a decision step's outcome;
    the step's own model when ``None``), owned child rows."""

    fields: Mapping[str, object]
    model: type[Checkpoint] | None = None
    children: Sequence[CheckpointChild] = ()


@final
@dataclass(frozen=True, init=False)
class Split:
    """A split step's outputs, in order: child ``i`` gets the id ``child_id(parent, step, i)`` and the key
    ``<key>:<i>``. A split step must return one (at least one output), and no other step may."""

    outputs: tuple[Output, ...]

    def __init__(self, outputs: Iterable[Output]) -> None:
        object.__setattr__(self, "outputs", tuple(outputs))


@final
class Await:
    """Stop here until an external event resumes this step (``AWAIT``, the one instance)."""

    def __repr__(self) -> str:
        return "AWAIT"


@final
class Skip:
    """Nothing to record: hand the input on to the next step (``SKIP``, the one instance)."""

    def __repr__(self) -> str:
        return "SKIP"


AWAIT: Final = Await()
SKIP: Final = Skip()

# Everything ``process()`` may return.
Produced: TypeAlias = Output | Split | Await | Skip


@dataclass(slots=True)
class StepContext(Generic[In]):
    """What ``process()`` receives: its input, the id its output will get, the trace, the attempt (1-based),
    the resuming event (a command's or an ops action's fields, else ``None``) and the step's clock."""

    pipeline: str
    step: str
    input: In
    output_id: uuid.UUID
    trace_id: uuid.UUID
    attempt: int
    event: Mapping[str, Any] | None
    now: datetime


@dataclass
class StepResult:
    pipeline: str
    step: str
    status: StepStatus
    checkpoints: list[Checkpoint] = field(default_factory=list)
    winner: Checkpoint | None = None
    error: BaseException | None = None

    @property
    def lost_to(self) -> uuid.UUID | None:
        return self.winner.pk if self.status is StepStatus.LOST and self.winner is not None else None


@dataclass
class Execution:
    """What one call into the engine did, step by step, across every pipeline it reached."""

    results: list[StepResult] = field(default_factory=list)

    def inserted(self) -> list[Checkpoint]:
        return [cp for r in self.results if r.status is StepStatus.INSERTED for cp in r.checkpoints]

    def failures(self) -> list[StepResult]:
        return [r for r in self.results if r.status is StepStatus.FAILED]

    def result(self, pipeline: str, step: str) -> StepResult | None:
        return next((r for r in self.results if r.pipeline == pipeline and r.step == step), None)

    @property
    def first(self) -> StepResult:
        return self.results[0]
