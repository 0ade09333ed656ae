"""Declarations: steps, pipelines, publications and subscriptions, grouped into a composition.

A composition is plain data, so the contract checks can inspect it (and tests can build broken ones).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal

from pipelines.contracts.fields import Contract
from pipelines.contracts.steps import In

if TYPE_CHECKING:
    from pipelines.contracts.steps import Produced, StepContext
    from pipelines.models import Checkpoint

_VERSION = re.compile(r"\.v(\d+)$")

Shape = Literal["one", "split", "merge"]
OnLost = Literal["stop", "continue"]
BranchRole = Literal["primary", "aux"]
BranchNeed = Literal["required", "optional"]
# How a publication's subscribers run: in the caller's process after its commit (``sync``), or on a Celery worker
# from the pipeline's own queue (``queue``); ``TPFGO_PUBLICATION_MODES`` overrides the declared mode per deployment.
Mode = Literal["sync", "queue"]
MODES: tuple[Mode, ...] = ("sync", "queue")


@dataclass(frozen=True)
class Publication:
    """A named, versioned handoff of one checkpoint type (``lane.indexed.v1``).

    ``key_fields`` are the contract fields the idempotency key of every handoff is made of; the domain names
    them (its business key, as its contracts spell it): the engine has no default.

    ``mode`` is how its subscribers run (docs/architecture.md, "Delivery modes"): ``sync`` (the default) in the
    publishing process right after the checkpoint committed, ``queue`` on a Celery worker, from one queue per
    subscriber pipeline; the checkpoint row is then the outbox of the message that says it is ready.
    """

    name: str
    model: type[Checkpoint]
    key_fields: tuple[str, ...]
    mode: Mode = "sync"

    @property
    def version(self) -> int:
        match = _VERSION.search(self.name)
        return int(match.group(1)) if match else 0

    @property
    def contract(self) -> Contract:
        return self.model.contract


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed step is retried: ``max_attempts`` in all (the first run included).

    ``jitter`` is a fraction (0 ≤ jitter ≤ 1): each delay is spread uniformly within ±jitter of its computed
    value, so items that failed together do not all come back together. ``jitter=0`` is deterministic.
    """

    max_attempts: int = 4
    base_delay: float = 10.0
    multiplier: float = 2.0
    cap: float = 1800.0
    jitter: float = 0.0

    def delay(self, failed_attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before the attempt after ``failed_attempt`` (1-based): base × multiplierⁿ⁻¹, capped."""
        delay = min(self.cap, self.base_delay * self.multiplier ** (failed_attempt - 1))
        if self.jitter <= 0:
            return delay
        spread = min(self.jitter, 1.0) * (2 * rand() - 1)
        return max(0.0, min(self.cap, delay * (1 + spread)))


@dataclass(frozen=True)
class Deadline:
    """How long a step may wait for its external event, and the pipeline that runs when the wait is over.

    The wait lasts ``settings.<setting>`` minutes per round. Round ``n`` (1-based) passes at opened + n × that,
    and runs ``pipelines[n-1]`` on the step's input (from its step ``step`` with ``event``, when given: the
    restaurant's timeout resumes the waiting step itself); after the last round the wait is over. ``settled_by``
    names the checkpoint types that end the wait when another path writes them into the trace (a cancellation,
    a resolution by ops): a wait they settled fires nothing. ``guard`` is the dotted path of a context manager
    taking the trace id, held while a round's pipeline runs; the deadline pass already holds the trace's decisions'
    lock around each round (``actions.in_turn``), so a guard must not take that one again. ``label``
    names the wait for people (the console's dashboard).
    """

    setting: str
    pipelines: tuple[str, ...]
    settled_by: tuple[str, ...] = ()
    step: str | None = None
    event: Mapping[str, Any] | None = None
    guard: str | None = None
    label: str = ""

    @property
    def rounds(self) -> int:
        return len(self.pipelines)


@dataclass(frozen=True)
class Branch:
    """One output of a step and its policy (docs/architecture.md, "The branch policy").

    The ``primary`` is what the next step (or the pipeline's output publication) receives: exactly one per step,
    always required, the step's ``model``. An ``aux`` output is never handed to the next step; it is a hand-off
    only through its own ``publication``, when a subscription names it. An aux branch without ``build`` is a
    decision outcome that ``process()`` returns instead of the primary; one with ``build`` is written beside the
    primary: ``build(ctx)`` gets the primary checkpoint as ``ctx.input`` and returns an ``Output`` or ``SKIP``.
    A ``required`` one is written in the step's own transaction (its failure fails the step); an ``optional`` one
    in its own transaction after the primary committed, parked and retried on its own (``retry``) when it fails.
    """

    name: str
    model: type[Checkpoint]
    role: BranchRole = "aux"
    need: BranchNeed = "required"
    publication: Publication | None = None
    build: Callable[[StepContext[Any]], Produced] | None = None
    retry: RetryPolicy | None = None

    @property
    def optional(self) -> bool:
        return self.need == "optional"

    @property
    def is_outcome(self) -> bool:
        """A decision outcome: an aux output ``process()`` writes instead of the primary."""
        return self.role == "aux" and self.build is None


def primary(name: str, model: type[Checkpoint]) -> Branch:
    """The step's primary output: what the next step or the pipeline's publication receives."""
    return Branch(name, model, "primary", "required")


def outcome(name: str, model: type[Checkpoint], publication: Publication) -> Branch:
    """A decision outcome: written by ``process()`` instead of the primary, handed off through ``publication``."""
    return Branch(name, model, "aux", "required", publication)


def aux(
    name: str,
    model: type[Checkpoint],
    build: Callable[[StepContext[Any]], Produced],
    *,
    optional: bool = False,
    publication: Publication | None = None,
    retry: RetryPolicy | None = None,
) -> Branch:
    """An output written beside the primary by ``build``; a hand-off only through ``publication``."""
    return Branch(name, model, "aux", "optional" if optional else "required", publication, build, retry)


@dataclass(frozen=True)
class Step(Generic[In]):
    """One step: ``process(ctx)`` turns the input (``In``: its input model, a list of them for a merge, a
    ``Command`` for a source step) into what it produced (``Produced``); the engine persists it.

    ``model`` is what the step writes when the pipeline goes on; ``outcomes`` are decision outcomes that end
    the pipeline, each with its publication. ``on_lost="continue"`` lets a claim step that lost its unique
    insert to another path hand its input on instead of stopping. ``awaits`` declares that the step stops for an
    external event (it returns ``AWAIT`` without one): ``True``, or a predicate on the step's input when that
    depends on data (a restaurant that accepts by hand). The sweeper never resumes an item waiting before it;
    a step that awaits declares its ``deadline`` instead (``check_contracts`` refuses one without).

    ``branches`` declares every output with its policy (``Branch``); left empty, the policy is derived: the
    ``model`` as the primary and each of ``outcomes`` as a required outcome. Given, it also gives ``outcomes``.

    ``skips`` names the inputs the step may return ``SKIP`` for in this pipeline (each then travels on to the next
    step); ``None`` reads it from ``process``: every input, when its return type admits ``Skip`` (``Produced``).
    ``check_contracts`` holds the next step's ``StepContext[...]`` to what may reach it (``pipelines.E046``).
    """

    name: str
    process: Callable[[StepContext[In]], Produced]
    model: type[Checkpoint]
    outcomes: Mapping[type[Checkpoint], Publication] = field(default_factory=dict)
    shape: Shape = "one"
    on_lost: OnLost = "stop"
    retry: RetryPolicy | None = None
    external_effect: bool = False
    awaits: bool | Callable[[In], bool] = False
    deadline: Deadline | None = None
    branches: tuple[Branch, ...] = ()
    skips: tuple[type[Checkpoint], ...] | None = None

    def __post_init__(self) -> None:
        declared = {b.model: b.publication for b in self.branches if b.is_outcome and b.publication is not None}
        if not self.outcomes:
            object.__setattr__(self, "outcomes", declared)
        elif self.branches and dict(self.outcomes) != declared:
            raise ValueError(f"step {self.name!r}: outcomes and the outcome branches disagree; declare one of them")

    @functools.cached_property
    def models(self) -> tuple[type[Checkpoint], ...]:
        """What the step may write: its model, then its outcomes (read for every row the step builds)."""
        return (self.model, *self.outcomes)

    @functools.cached_property
    def policy(self) -> tuple[Branch, ...]:
        """Every output of the step with its policy: the declared ``branches``, or the derived default."""
        if self.branches:
            return self.branches
        outcomes = (outcome(type_label(m), m, p) for m, p in self.outcomes.items())
        return (primary(self.name, self.model), *outcomes)

    @functools.cached_property
    def side_outputs(self) -> tuple[Branch, ...]:
        """The aux branches written beside the primary (``build`` given), required ones first."""
        built = [b for b in self.policy if b.role == "aux" and b.build is not None]
        return tuple(sorted(built, key=lambda b: b.optional))

    @functools.cached_property
    def side_steps(self) -> dict[str, Step[Any]]:
        """Each aux branch written beside the primary as a step of its own (``<step>+<branch>``): its input is the
        primary checkpoint, its process the branch's ``build``; the engine runs it for ids, rows and retries."""
        out: dict[str, Step[Any]] = {}
        for branch in self.side_outputs:
            assert branch.build is not None
            out[branch.name] = Step(f"{self.name}+{branch.name}", branch.build, branch.model, retry=branch.retry)
        return out


@dataclass(frozen=True)
class Pipeline:
    """Ordered steps from an input contract to an output publication.

    A source pipeline (``inputs == ()``) starts from a command and derives its root id from
    ``source_namespace`` and the incoming idempotency key.
    """

    name: str
    inputs: tuple[type[Checkpoint], ...]
    steps: tuple[Step, ...]
    output: Publication
    source_namespace: str | None = None
    kind: Literal["chain", "unhappy", "remediation"] = "chain"

    def step(self, name: str) -> Step:
        for candidate in self.steps:
            if candidate.name == name:
                return candidate
        raise KeyError(f"pipeline {self.name!r} has no step {name!r}")

    def index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)


@dataclass(frozen=True)
class Mapper:
    """Maps exactly one (source contract, target contract) pair for a subscription whose types differ.

    ``fields(source)`` returns the target's field values by model attribute (as an ``Output``'s), read from the
    handed-off checkpoint. The engine applies it where the consumer pipeline's first step gets a ``source``: that
    step's ``ctx.input`` is then a ``target`` built from them, carrying the source checkpoint's id, trace, key,
    time and branch (it is not stored). The item stays the stored source checkpoint (lineage, replays, parking,
    retries; a retried first step maps it again). ``check_contracts`` refuses a mapper that cannot apply
    (``pipelines.E047``), and a foreign key to the target in what that step writes, its rows' children included
    (``pipelines.E049``).
    """

    source: type[Checkpoint]
    target: type[Checkpoint]
    fields: Callable[[Any], Mapping[str, object]]


@dataclass(frozen=True)
class Subscription:
    publication: str
    pipeline: str
    mapper: Mapper | None = None


@dataclass(frozen=True)
class Composition:
    pipelines: tuple[Pipeline, ...]
    subscriptions: tuple[Subscription, ...]
    terminal: frozenset[str] = frozenset()
    # Asked (pipeline, trace id) before a parked item is retried: a reason to abandon it, or None.
    retry_guard: Callable[[str, Any], str | None] | None = None
    # What a pause may be scoped to (``pipelines.engine.pauses``): a name → the value of a step's input under that name
    # (a checkpoint, or a merge's list), or None when the input has none. Called only while such a pause is active.
    pause_keys: Mapping[str, Callable[[Any], str | None]] = field(default_factory=dict)
    # A pause key's value as an operator gives it → the value that key answers for the inputs it names (a UUID in
    # its canonical form, say), or ``ValueError`` saying why no input can have it: a pause for a mistyped value
    # would hold nothing. A key without one takes the value as given.
    pause_values: Mapping[str, Callable[[str], str]] = field(default_factory=dict)

    def pipeline(self, name: str) -> Pipeline:
        for candidate in self.pipelines:
            if candidate.name == name:
                return candidate
        side = self.side_pipelines.get(name)
        if side is not None:
            return side
        raise KeyError(f"no pipeline named {name!r}")

    @functools.cached_property
    def side_pipelines(self) -> dict[str, Pipeline]:
        """Every aux branch written beside the primary as a one-step pipeline ``<pipeline>+<branch>`` on the primary
        checkpoint: the engine runs an optional one after the primary committed, and parks and retries it on its own."""
        out: dict[str, Pipeline] = {}
        for pipeline in self.pipelines:
            for step in pipeline.steps:
                for branch in step.side_outputs:
                    spec = side_pipeline(pipeline, step, branch)
                    out[spec.name] = spec
        return out

    def publications(self) -> dict[str, tuple[Pipeline, Publication]]:
        """Every publication name with its producing pipeline (the last producer wins on duplicates)."""
        out: dict[str, tuple[Pipeline, Publication]] = {}
        for pipeline in self.pipelines:
            for publication in produced(pipeline):
                out[publication.name] = (pipeline, publication)
        return out

    def subscribers(self, publication: str) -> list[Pipeline]:
        return [self.pipeline(s.pipeline) for s in self.subscriptions if s.publication == publication]


def type_label(model: type[Any]) -> str:
    """A model's contract name (its class name when it declares none)."""
    found = getattr(model, "contract", None)
    return found.name if isinstance(found, Contract) else model.__name__


def side_pipeline_name(pipeline: str, branch: str) -> str:
    return f"{pipeline}+{branch}"


def side_pipeline(pipeline: Pipeline, step: Step, branch: Branch) -> Pipeline:
    """The one-step pipeline an aux branch written beside the primary runs as, after it (always, when optional;
    to hand it off, when required): unpublished unless the branch declares a publication."""
    name = side_pipeline_name(pipeline.name, branch.name)
    output = branch.publication or Publication("", branch.model, ())  # no name: its log rows carry none
    return Pipeline(name, (step.model,), (step.side_steps[branch.name],), output, kind=pipeline.kind)


def produced(pipeline: Pipeline) -> list[Publication]:
    """Every publication ``pipeline`` hands off: its output, its decision outcomes', its aux branches'."""
    out = [pipeline.output]
    for step in pipeline.steps:
        out.extend(step.outcomes.values())
        out.extend(b.publication for b in step.side_outputs if b.publication is not None)
    return out
