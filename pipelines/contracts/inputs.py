"""What each step reads against what reaches it: the ``In`` of its ``process(ctx: StepContext[In])``.

A step's input is declared by its ``process``'s annotation. What reaches it: the model the step before it writes
(a list of them after a split); that step's own input as well when it may ``SKIP`` for it (as its ``skips`` says,
else whenever its return type admits ``Skip``: ``Produced``, or a union naming ``Skip``; an unannotated return type
is taken not to) or goes on after a lost claim (``on_lost="continue"``); for the first step, the pipeline's declared
``inputs`` (a ``Command`` for a source pipeline), which ``pipelines.E014`` holds to the publications it subscribes
to; for an aux branch's ``build``, the primary checkpoint. A step reads the model it declares, a subclass, or another
model of the same contract (a consumer's own view).

A step without an annotation (a lambda), or declared ``Any``, reads anything and is not checked.
``docs/contracts.md`` lists the id (``pipelines.E046``).

A deadline hands the waiting step's input to each of its pipelines, at the deadline's ``step`` when the pipeline
has it, else at its first step: that pipeline must take everything that may reach the waiting step when the step
declares ``awaits=True`` (every input waits), and at least one of it when ``awaits`` is a predicate
(``pipelines.E048``; which input waits is then data), and the deadline task refuses an input it does not take when
the round fires (``pipelines.recovery.deadlines``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.contracts.declarations import Composition, Deadline, Pipeline, Step, type_label
from pipelines.contracts.problems import Problem
from pipelines.contracts.steps import Command, Skip, StepContext

ID = "pipelines.E046"
HINT = (
    "Declare what reaches the step: StepContext[...] on its process, a union of every model that may arrive (the "
    "step before's model, and that step's own input when it may SKIP or continue after a loss), or move the step to "
    'where its input is written (docs/architecture.md, "What a step receives and returns").'
)


@dataclass(frozen=True)
class Value:
    """One kind of value that reaches a step: a model (or ``Command``), or a list of them (a split's output), and
    how it gets there (``"the step before it, checkout/initial_order, writes it"``)."""

    model: type[Any]
    many: bool
    via: str

    @property
    def label(self) -> str:
        return f"list[{type_label(self.model)}]" if self.many else type_label(self.model)


@dataclass(frozen=True)
class Declared:
    """A step's declared input: ``None`` when it reads anything (undeclared, ``Any``), else the accepted kinds."""

    accepts: tuple[tuple[type[Any], bool], ...] | None
    may_skip: bool

    def takes(self, value: Value) -> bool:
        if self.accepts is None:
            return True
        return any(many == value.many and _same(value.model, model) for model, many in self.accepts)

    @property
    def label(self) -> str:
        if self.accepts is None:
            return "Any"
        return " | ".join(f"list[{type_label(m)}]" if many else type_label(m) for m, many in self.accepts)


class Unreadable(Exception):
    """The annotation names something that cannot be resolved (an import kept under ``TYPE_CHECKING``)."""


def _same(arrives: type[Any], declared: type[Any]) -> bool:
    if isinstance(arrives, type) and isinstance(declared, type) and issubclass(arrives, declared):
        return True
    return type_label(arrives) == type_label(declared) and declared is not Command and arrives is not Command


def _members(annotation: object) -> tuple[object, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def declared(process: Callable[..., Any]) -> Declared:
    """What ``process`` says it reads (its first parameter's ``StepContext[In]``) and whether it may return SKIP."""
    try:
        hints = typing.get_type_hints(process)
    except NameError as exc:
        raise Unreadable(str(exc)) from exc
    except (TypeError, AttributeError):  # not a function (a partial, a callable object): nothing declared
        return Declared(None, False)
    may_skip = any(m is Skip for m in _members(hints.get("return")))  # Produced names Skip; None names nothing
    names = [name for name in hints if name != "return"]
    context = hints[names[0]] if names else None
    if typing.get_origin(context) is not StepContext or not typing.get_args(context):
        return Declared(None, may_skip)
    accepts: list[tuple[type[Any], bool]] = []
    for member in _members(typing.get_args(context)[0]):
        if typing.get_origin(member) is list and typing.get_args(member):
            member, many = typing.get_args(member)[0], True
        else:
            many = False
        if not isinstance(member, type) or member is object:  # Any, a TypeVar: reads anything
            return Declared(None, may_skip)
        accepts.append((member, many))
    return Declared(tuple(accepts), may_skip)


def input_problems(composition: Composition) -> Iterator[Problem]:
    for pipeline in composition.pipelines:
        yield from _pipeline(pipeline)


def reaching(pipeline: Pipeline, index: int) -> list[Value]:
    """Every kind of value that may reach ``pipeline.steps[index]`` (``index == len(steps)``: what its last step
    hands on, of which the output publication's model is handed off). An unreadable step counts as declaring nothing."""
    if pipeline.inputs:
        values = [Value(m, False, f"pipeline {pipeline.name} takes it") for m in pipeline.inputs]
    else:
        values = [Value(Command, False, f"source pipeline {pipeline.name} starts from it")]
    for step in pipeline.steps[:index]:
        values = _handed_on(pipeline, step, values)
    return values


def _handed_on(pipeline: Pipeline, step: Step, reached: list[Value]) -> list[Value]:
    where = f"{pipeline.name}/{step.name}"
    out = [Value(step.model, step.shape == "split", f"the step before it, {where}, writes it")]
    for value in reached:
        how = []
        if _skips(step, value):
            how.append("returns SKIP")
        if step.on_lost == "continue":
            how.append("loses its claim (on_lost='continue')")
        if how:
            out.append(Value(value.model, value.many, f"{where} hands on its own input when it {' or '.join(how)}"))
    return _unique(out)


def _skips(step: Step, value: Value) -> bool:
    """Whether ``step`` may return SKIP for ``value``: as its ``skips`` declares, else as its return type says."""
    if step.skips is not None:
        return not value.many and any(_same(value.model, model) for model in step.skips)
    try:
        return declared(step.process).may_skip
    except Unreadable:  # refused on its own (E046)
        return False


def _unique(values: list[Value]) -> list[Value]:
    seen: set[tuple[type[Any], bool]] = set()
    out = []
    for value in values:
        if (value.model, value.many) not in seen:
            seen.add((value.model, value.many))
            out.append(value)
    return out


def _pipeline(pipeline: Pipeline) -> Iterator[Problem]:
    for index, step in enumerate(pipeline.steps):
        where = f"{pipeline.name}/{step.name}"
        yield from _compare(f"step {where}", step.process, reaching(pipeline, index))
        for branch in step.side_outputs if step.shape == "one" else ():  # beside a split or merge: E040
            assert branch.build is not None
            primary = [Value(step.model, False, f"it is built on the primary checkpoint of {where}")]
            yield from _compare(f"aux branch '{branch.name}' of step {where}", branch.build, primary)


def _compare(who: str, process: Callable[..., Any], values: list[Value]) -> Iterator[Problem]:
    try:
        found = declared(process)
    except Unreadable as exc:
        yield Problem(
            ID,
            f"{who} declares an input type that cannot be read: {exc} (expected=a resolvable StepContext[...] "
            "actual=an unknown name)",
            "Import the models the annotation names at run time, not under TYPE_CHECKING: the check reads them.",
        )
        return
    refused = [v for v in values if not found.takes(v)]
    if not refused:
        return
    reasons = "; ".join(f"{v.label} reaches it: {v.via}" for v in refused)
    actual = " | ".join(v.label for v in refused)
    yield Problem(
        ID,
        f"{who} reads {found.label}, but {reasons} (expected={found.label} actual={actual})",
        HINT,
    )


# -- what a deadline hands on ---------------------------------------------------------------------------------------
DEADLINE_ID = "pipelines.E048"
DEADLINE_HINT = (
    "A deadline runs each of its pipelines on the waiting step's input: name a pipeline that takes it (in its "
    "inputs, or at the deadline's step), or add the type to its inputs (docs/contracts.md, rule 9)."
)


def deadline_start(deadline: Deadline, target: Pipeline) -> int:
    """Where a deadline's round starts ``target``: at the deadline's ``step`` when ``target`` has it, else its first."""
    names = [s.name for s in target.steps]
    return names.index(deadline.step) if deadline.step in names else 0


def fits(value: Value, taken: list[Value]) -> bool:
    """Whether ``value`` is one of what ``taken`` (``reaching``) lists: the model, a subclass, or the same contract."""
    return any(v.many == value.many and _same(value.model, v.model) for v in taken)


def deadline_input_problems(composition: Composition) -> Iterator[Problem]:
    """Every deadline round's pipeline takes what the waiting step may wait on (``pipelines.E048``): all of it for
    ``awaits=True``, one of it for a predicate."""
    pipelines = {p.name: p for p in composition.pipelines}
    for pipeline in composition.pipelines:
        for index, step in enumerate(pipeline.steps):
            if step.deadline is None:
                continue
            waited = reaching(pipeline, index)
            for name in dict.fromkeys(step.deadline.pipelines):
                target = pipelines.get(name)
                if target is None or not target.steps:  # E025, E026
                    continue
                start = deadline_start(step.deadline, target)
                taken = reaching(target, start)
                refused = [v for v in waited if not fits(v, taken)]
                # awaits=True: every input waits, so the pipeline takes them all. A predicate: which input waits is
                # data, so one the pipeline takes is enough here; the deadline task refuses another when it fires.
                if refused and (step.awaits is True or len(refused) == len(waited)):
                    yield _deadline_problem(f"{pipeline.name}/{step.name}", target, start, waited, taken, refused)


def _deadline_problem(
    where: str, target: Pipeline, start: int, waited: list[Value], taken: list[Value], refused: list[Value]
) -> Problem:
    at = f"at its step {target.steps[start].name}" if start else "as its input"
    expected = " | ".join(v.label for v in taken)
    actual = " | ".join(v.label for v in refused)
    which = "none of what the step waits on" if refused == waited else "not all of what the step waits on (awaits=True)"
    return Problem(
        DEADLINE_ID,
        f"the deadline of step {where} runs pipeline '{target.name}' on the step's input, but {target.name} takes "
        f"{expected} {at}, {which}: {actual} (expected={expected} actual={actual})",
        DEADLINE_HINT,
    )
