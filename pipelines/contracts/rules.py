"""The structural contract rules of a composition: pipelines, contracts, publications and dead ends.

Pure functions from a composition to every problem it has (``Problem``, with a stable id and a hint); the handoff
rules are in ``contract_handoffs`` and the lock rules in ``contract_lock``. ``docs/contracts.md`` lists every id.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.contracts.declarations import Branch, Composition, Pipeline, Publication
from pipelines.contracts.fields import FIELD_TYPES, Contract
from pipelines.contracts.inputs import reaching
from pipelines.contracts.problems import Problem


@dataclass(frozen=True)
class Producer:
    """Who hands a publication off: the pipeline, the step that writes it, and the model that step writes."""

    pipeline: Pipeline
    step: str
    publication: Publication
    written: type[Any] | None
    branch: Branch | None = None  # the output of ``step`` it hands off, with its policy

    @property
    def label(self) -> str:
        return f"{self.pipeline.name}/{self.step}"


def contract_of(model: type[Any]) -> Contract | None:
    found = getattr(model, "contract", None)
    return found if isinstance(found, Contract) else None


def type_name(model: type[Any]) -> str:
    found = contract_of(model)
    return found.name if found else model.__name__


def producers(composition: Composition) -> dict[str, list[Producer]]:
    """Every publication name with all of its producers, in declaration order."""
    out: dict[str, list[Producer]] = defaultdict(list)
    for pipeline in composition.pipelines:
        output = pipeline.output
        writer = next((s for s in reversed(pipeline.steps) if output.model in s.models), None)
        if writer is None and pipeline.steps and _handed_off(pipeline):  # its input, handed on by skipping steps
            writer = pipeline.steps[-1]
        last = pipeline.steps[-1].name if pipeline.steps else "?"
        primary = next((b for b in writer.policy if b.role == "primary"), None) if writer else None
        out[output.name].append(
            Producer(pipeline, writer.name if writer else last, output, output.model if writer else None, primary)
        )
        for step in pipeline.steps:
            for branch in step.policy:
                if branch.role == "aux" and branch.publication is not None:
                    producer = Producer(pipeline, step.name, branch.publication, branch.model, branch)
                    out[branch.publication.name].append(producer)
    return dict(out)


# -- pipelines and contracts --------------------------------------------------------------------------------
def pipeline_problems(composition: Composition) -> Iterator[Problem]:
    for name, count in Counter(p.name for p in composition.pipelines).items():
        if count > 1:
            yield Problem(
                "pipelines.E027",
                f"pipeline name '{name}' is declared {count} times (expected=1 actual={count})",
                "Give every pipeline its own name: subscriptions and parked work find pipelines by name.",
            )
    for pipeline in composition.pipelines:
        if not pipeline.steps:
            yield Problem(
                "pipelines.E026",
                f"pipeline '{pipeline.name}' has no steps (expected=at least 1 actual=0)",
                "Declare the steps that turn the pipeline's input into its output publication.",
            )


def _written_models(composition: Composition) -> dict[type[Any], str]:
    """Every model the composition writes or publishes, with where it is first written."""
    out: dict[type[Any], str] = {}
    for pipeline in composition.pipelines:
        for step in pipeline.steps:
            for model in step.models:
                out.setdefault(model, f"{pipeline.name}/{step.name}")
        out.setdefault(pipeline.output.model, f"{pipeline.name} (output)")
    return out


def written_models(composition: Composition) -> set[type[Any]]:
    """Every checkpoint model a step of the composition may write: its model, its outcomes, its aux branches'."""
    out = set(_written_models(composition))
    for pipeline in composition.pipelines:
        for step in pipeline.steps:
            out.update(branch.model for branch in step.policy)
    return out


def contract_problems(composition: Composition) -> Iterator[Problem]:
    for model, where in _written_models(composition).items():
        found = contract_of(model)
        if found is None:
            yield Problem(
                "pipelines.E024",
                f"checkpoint model {model.__name__} (written by {where}) declares no contract",
                "Set contract = pipelines.declared(...) on the model and number its fields.",
            )
            continue
        faults = list(_contract_faults(found))
        if faults:
            yield Problem(
                "pipelines.E024",
                f"contract {found.name} of model {model.__name__} (written by {where}) is invalid: {'; '.join(faults)}",
                "Give every field a unique positive number, a unique name and a type from FIELD_TYPES "
                "(pipelines.contracts.fields).",
            )


FORK_KEY_ID = "pipelines.E050"


def fork_key_problems(composition: Composition) -> Iterator[Problem]:
    """Every model the composition writes that a fork may write (``branch_field`` set) declares its branch column
    last in ``business_key_fields`` (``pipelines.E050``): the engine builds the key text with the branch last and
    only off the main branch (``branches.branch_key``), so a declaration that puts it elsewhere, or leaves it out,
    names a key its rows do not have (and a unique constraint over those fields would let a fork meet its parent)."""
    where = _written_models(composition)
    for pipeline in composition.pipelines:
        for step in pipeline.steps:
            for branch in step.policy:
                where.setdefault(branch.model, f"{pipeline.name}/{step.name}")
    for model, written in where.items():
        column = getattr(model, "branch_field", None)
        declared = tuple(getattr(model, "business_key_fields", ()))
        if column is None or declared[-1:] == (column,):
            continue
        expected = (*(f for f in declared if f != column), column)
        yield Problem(
            FORK_KEY_ID,
            f"checkpoint model {model.__name__} (written by {written}) is written on forks in its column "
            f"'{column}', but its business_key_fields do not end with it (expected={expected} actual={declared})",
            f"Declare the branch column last: business_key_fields = {expected}. A key takes the branch in last and "
            "only off the main branch (pipelines.store.branches.branch_key), so a fork's fact never shares its "
            "parent's key.",
        )


def _contract_faults(found: Contract) -> Iterator[str]:
    for number, count in sorted(Counter(f.number for f in found.fields).items()):
        if count > 1:
            names = ", ".join(f.name for f in found.fields if f.number == number)
            yield f"duplicate field number {number} ({names})"
    for name, count in sorted(Counter(f.name for f in found.fields).items()):
        if count > 1:
            yield f"duplicate field name '{name}'"
    for f in found.fields:
        if not f.name:
            yield f"field #{f.number} has a blank name"
        if f.number < 1:
            yield f"field '{f.name}' has number {f.number} (expected a positive number)"
        if f.type not in FIELD_TYPES:
            yield f"field '{f.name}' has unknown type '{f.type}' (expected one of {', '.join(sorted(FIELD_TYPES))})"


# -- publications -------------------------------------------------------------------------------------------
def publication_problems(found: dict[str, list[Producer]]) -> Iterator[Problem]:
    for name, producing in found.items():
        if len(producing) > 1:
            labels = ", ".join(p.label for p in producing)
            yield Problem(
                "pipelines.E012",
                f"publication '{name}' has {len(producing)} producers: {labels} (expected=1 actual={len(producing)})",
                "A publication name belongs to one producer: give each producing pipeline its own publication name.",
            )
        for producer in _unique(producing):
            yield from _publication_model(producer)
            found_contract = contract_of(producer.publication.model)
            if found_contract is not None:
                yield from _version(producer, found_contract)
                yield from _keys(producer, found_contract)


def _unique(producing: list[Producer]) -> list[Producer]:
    seen: list[Publication] = []
    out = []
    for producer in producing:
        if producer.publication not in seen:
            seen.append(producer.publication)
            out.append(producer)
    return out


def _publication_model(producer: Producer) -> Iterator[Problem]:
    publication = producer.publication
    declared = type_name(publication.model)
    if producer.written is None:
        yield Problem(
            "pipelines.E028",
            f"publication '{publication.name}' of pipeline '{producer.pipeline.name}' hands off {declared}, "
            f"but no step of '{producer.pipeline.name}' writes it (expected={declared} actual=none)",
            "Make the pipeline's last step write the output publication's model, or publish the model it writes.",
        )
    elif publication is producer.pipeline.output and not _handed_off(producer.pipeline):
        last = producer.pipeline.steps[-1]
        yield Problem(
            "pipelines.E028",
            f"publication '{publication.name}' of pipeline '{producer.pipeline.name}' hands off {declared}, written "
            f"by {producer.label}, but the pipeline's last step {last.name} writes {type_name(last.model)}: the "
            f"output is handed off only from the last step, so its subscribers would never run "
            f"(expected={declared} actual={type_name(last.model)})",
            f"Put the new step before {producer.step}, or give it a pipeline of its own that subscribes to "
            f"'{publication.name}' (docs/architecture.md, \"How to add a step\").",
        )
    elif producer.written is not publication.model:
        written = type_name(producer.written)
        yield Problem(
            "pipelines.E028",
            f"publication '{publication.name}' (producer {producer.label}) declares {declared}, but the step "
            f"writes {producer.written.__name__} for it (expected={written} actual={declared})",
            "Declare the outcome's publication with the model the step writes for that outcome.",
        )


def _handed_off(pipeline: Pipeline) -> bool:
    """Whether the output publication's model may be what the last step hands on: written by it, or its own input
    handed on when it may SKIP for it (or goes on after a lost claim), as the runner publishes it."""
    ends = reaching(pipeline, len(pipeline.steps))
    return any(not value.many and issubclass(value.model, pipeline.output.model) for value in ends)


def bumped(name: str, version: int) -> str:
    """``tpfgo.x.v1`` with its version suffix set to ``version``."""
    stem = name.rsplit(".v", 1)[0] if name.rsplit(".v", 1)[-1].isdigit() else name
    return f"{stem}.v{version}"


def _version(producer: Producer, found: Contract) -> Iterator[Problem]:
    publication = producer.publication
    if publication.version == found.version:
        return
    actual = f".v{publication.version}" if publication.version else "no .vN suffix"
    yield Problem(
        "pipelines.E023",
        f"publication '{publication.name}' (producer {producer.label}) hands off {found.name} version "
        f"{found.version} (expected=.v{found.version} actual={actual})",
        f"A publication's .vN suffix is its contract's version: rename it to "
        f"'{bumped(publication.name, found.version)}' (and its subscriptions), or fix the contract's version.",
    )


def _keys(producer: Producer, found: Contract) -> Iterator[Problem]:
    publication = producer.publication
    names = ", ".join(f.name for f in sorted(found.fields, key=lambda f: f.number))
    if not publication.key_fields:
        yield Problem(
            "pipelines.E021",
            f"publication '{publication.name}' (producer {producer.label}) declares no key fields "
            f"(expected=one or more required fields of {found.name} actual=none)",
            "Declare key_fields: the idempotency key of every handoff is derived from them.",
        )
    for key in publication.key_fields:
        field = found.field(key)
        if field is None:
            yield Problem(
                "pipelines.E021",
                f"key field '{key}' of publication '{publication.name}' (producer {producer.label}) is not a field "
                f"of contract {found.name} (expected=one of [{names}] actual='{key}')",
                "Key fields are contract field names (camelCase wire names): fix the name or add the field.",
            )
        elif not field.required:
            yield Problem(
                "pipelines.E022",
                f"key field '{key}' of publication '{publication.name}' (producer {producer.label}) is optional on "
                f"contract {found.name} (expected=required actual=optional)",
                "An idempotency key cannot be absent: make the field required or pick another key field.",
            )


# -- dead ends ---------------------------------------------------------------------------------------------
def dead_ends(composition: Composition, found: dict[str, list[Producer]]) -> Iterator[Problem]:
    subscribed = {s.publication for s in composition.subscriptions}
    handled = {type_name(m) for p in composition.pipelines if p.kind in ("unhappy", "remediation") for m in p.inputs}
    ends: dict[str, list[Producer]] = defaultdict(list)
    for producing in found.values():
        for producer in producing:
            if producer.branch is None or producer.branch.role == "primary":  # aux branches: branch_rules
                ends[type_name(producer.publication.model)].append(producer)
    for checkpoint, producing in ends.items():
        names = {p.publication.name for p in producing}
        if names & composition.terminal or names & subscribed or checkpoint in handled:
            continue
        published = ", ".join(f"'{p.publication.name}' by {p.label}" for p in producing)
        yield Problem(
            "pipelines.W010",
            f"dead-end checkpoint {checkpoint}: published as {published}; it is not terminal, no pipeline "
            f"subscribes to it, and no unhappy-path or remediation pipeline takes {checkpoint} as input",
            "Add the publication to Composition.terminal if the flow ends there, subscribe a pipeline to it, or "
            "declare an unhappy-path or remediation pipeline that takes it as input.",
            "warning",
        )
    for name in sorted(composition.terminal - set(found)):
        yield Problem(
            "pipelines.W011",
            f"Composition.terminal names publication '{name}', which no pipeline produces (expected=a produced "
            f"publication actual='{name}')",
            "Fix the name (publication names include the .vN version) or remove it from Composition.terminal.",
            "warning",
        )


# -- deadlines ---------------------------------------------------------------------------------------------
def deadline_problems(composition: Composition) -> Iterator[Problem]:
    """Every step that waits for an event declares a deadline, and its deadline runs declared pipelines."""
    names = [p.name for p in composition.pipelines]
    for pipeline in composition.pipelines:
        for step in pipeline.steps:
            where = f"{pipeline.name}/{step.name}"
            if step.awaits and step.deadline is None:
                yield Problem(
                    "pipelines.E029",
                    f"step {where} awaits an external event but declares no deadline (expected=a Deadline actual=none)",
                    "Declare deadline=Deadline(setting, pipelines=(...)) on the step: how many minutes it may wait "
                    "(a setting) and the pipeline that runs when the wait passes. Nothing may wait forever.",
                )
            if step.deadline is None:
                continue
            if not step.deadline.pipelines:
                yield Problem(
                    "pipelines.E025",
                    f"the deadline of step {where} runs no pipeline (expected=at least 1 actual=0)",
                    "Name the pipeline that runs when the wait passes (one per round).",
                )
            for name in step.deadline.pipelines:
                if name not in names:
                    yield Problem(
                        "pipelines.E025",
                        f"the deadline of step {where} runs pipeline '{name}', which is not in the composition "
                        f"(expected=one of [{', '.join(names)}] actual='{name}')",
                        "Name a declared pipeline (it runs on the waiting step's input), or declare it.",
                    )
