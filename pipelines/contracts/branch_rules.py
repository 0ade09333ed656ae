"""The branch-policy rules of a composition: every step has one primary, every branch is consumed as its policy says.

A step's outputs are its ``policy`` (``pipelines.contracts.declarations.Branch``): one primary, which the next step or
the pipeline's output publication receives (its consumption is the dead-end rule's business), and aux branches, each
consumed only through its own publication. ``docs/contracts.md`` lists every id; ``docs/architecture.md`` ("The branch
policy") says what the engine does with each kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pipelines.contracts.declarations import Branch, Composition, Pipeline, Step, side_pipeline_name
from pipelines.contracts.problems import Problem
from pipelines.contracts.rules import type_name


def branch_problems(composition: Composition) -> Iterator[Problem]:
    consumed = _consumed(composition)
    subscribed = {s.publication for s in composition.subscriptions}
    for pipeline in composition.pipelines:
        yield from _names(pipeline)
        for step in pipeline.steps:
            where = f"{pipeline.name}/{step.name}"
            yield from _primary(where, step)
            for branch in step.policy:
                named = {branch.name, side_pipeline_name(pipeline.name, branch.name)}
                if branch.role == "aux" and not named & subscribed:  # subscribed by its name: E037 says it all
                    yield from _aux(where, step, branch, consumed)


def _consumed(composition: Composition) -> set[str]:
    """Publication names something consumes: a subscription, the terminal set, or an unhappy or remediation
    pipeline taking its type (recorded as ``type:<contract>``)."""
    names = {s.publication for s in composition.subscriptions} | set(composition.terminal)
    takes = {
        f"type:{type_name(m)}" for p in composition.pipelines if p.kind in ("unhappy", "remediation") for m in p.inputs
    }
    return names | takes


def _primary(where: str, step: Step) -> Iterator[Problem]:
    primaries = [b for b in step.policy if b.role == "primary"]
    hint = (
        "Declare exactly one primary(name, model) among the step's branches, with the step's model: it is what the "
        "next step or the pipeline's publication receives; every other output is an aux branch."
    )
    if len(primaries) != 1:
        names = ", ".join(b.name for b in primaries) or "none"
        yield Problem(
            "pipelines.E036",
            f"step {where} declares {len(primaries)} primary branches (expected=1 actual={len(primaries)}: {names})",
            hint,
        )
    elif primaries[0].model is not step.model:
        yield Problem(
            "pipelines.E036",
            f"the primary branch '{primaries[0].name}' of step {where} writes {type_name(primaries[0].model)}, not the "
            f"step's model (expected={type_name(step.model)} actual={type_name(primaries[0].model)})",
            hint,
        )
    elif primaries[0].optional:
        yield Problem(
            "pipelines.E036",
            f"the primary branch '{primaries[0].name}' of step {where} is declared optional (expected=required "
            "actual=optional)",
            hint,
        )


def _aux(where: str, step: Step, branch: Branch, consumed: set[str]) -> Iterator[Problem]:
    if branch.build is not None and step.shape != "one":
        yield Problem(
            "pipelines.E040",
            f"aux branch '{branch.name}' of step {where} is built beside a {step.shape} step's output "
            f"(expected=a step of shape one actual={step.shape})",
            "Build aux branches beside one checkpoint: move the branch to the step after the split or merge.",
        )
    if branch.is_outcome and branch.publication is None:
        yield Problem(
            "pipelines.E040",
            f"decision outcome '{branch.name}' of step {where} declares no publication (expected=a Publication "
            "actual=none)",
            "A decision outcome ends the pipeline: hand it off through outcome(name, model, publication).",
        )
        return
    publication = branch.publication
    if publication is not None and (publication.name in consumed or f"type:{type_name(publication.model)}" in consumed):
        return
    handed = f"its publication '{publication.name}'" if publication else "it declares no publication"
    if branch.optional:
        yield Problem(
            "pipelines.W039",
            f"optional aux branch '{branch.name}' of step {where} is consumed by nothing: {handed}, and no "
            "subscription or terminal publication takes it",
            "Declare a publication on the branch and subscribe a pipeline to it, or add it to Composition.terminal "
            "(recorded, nothing downstream); or drop the branch.",
            "warning",
        )
        return
    yield Problem(
        "pipelines.E038",
        f"required branch '{branch.name}' of step {where} is consumed by nothing: {handed}, and no subscription, "
        "terminal publication or unhappy-path or remediation pipeline takes it",
        "Subscribe a pipeline to the branch's publication or add it to Composition.terminal; a branch nothing needs "
        "is optional: declare it aux(..., optional=True).",
    )


def _names(pipeline: Pipeline) -> Iterator[Problem]:
    """Aux branches written beside a primary run as ``<pipeline>+<branch>``: their names are unique per pipeline."""
    built = [b.name for s in pipeline.steps for b in s.side_outputs]
    for name, count in sorted(Counter(built).items()):
        if count > 1:
            yield Problem(
                "pipelines.E040",
                f"aux branch name '{name}' is declared {count} times in pipeline '{pipeline.name}' "
                f"(expected=1 actual={count})",
                f"Give each aux branch of a pipeline its own name: it names the branch's side pipeline "
                f"'{side_pipeline_name(pipeline.name, name)}' (parked items, retries, metrics).",
            )


def undeclared_branch(composition: Composition, publication: str) -> Problem | None:
    """A subscription to a name no publication has, but an aux branch has: the branch declares no publication."""
    for pipeline in composition.pipelines:
        for step in pipeline.steps:
            for branch in step.policy:
                if branch.role != "aux" or branch.publication is not None:
                    continue
                if publication in (branch.name, side_pipeline_name(pipeline.name, branch.name)):
                    return Problem(
                        "pipelines.E037",
                        f"subscription to '{publication}' names aux branch '{branch.name}' of step "
                        f"{pipeline.name}/{step.name}, which declares no publication (expected=a declared "
                        "publication actual=none)",
                        "An aux branch is a hand-off only through its own publication: declare "
                        "aux(..., publication=Publication(...)) and subscribe to that publication's name.",
                    )
    return None
