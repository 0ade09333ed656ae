"""The handoff rules of a composition's subscriptions: producer, type or mapper pair, and field by field.

A handoff's *type* is the name of the contract it carries, so a consumer may declare its own model of an upstream
contract; both sides are then compared field by field (name, number, type, required) and by version.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from pipelines.contracts.branch_rules import undeclared_branch
from pipelines.contracts.declarations import Composition, Pipeline, Subscription
from pipelines.contracts.fields import Contract
from pipelines.contracts.problems import Problem
from pipelines.contracts.rules import Producer, contract_of, type_name


def subscription_problems(composition: Composition, found: dict[str, list[Producer]]) -> Iterator[Problem]:
    pipelines = {p.name: p for p in composition.pipelines}
    for subscription in composition.subscriptions:
        consumer = pipelines.get(subscription.pipeline)
        if consumer is None:
            yield Problem(
                "pipelines.E013",
                f"subscription to publication '{subscription.publication}' names pipeline "
                f"'{subscription.pipeline}', which is not in the composition (expected=one of "
                f"[{', '.join(pipelines)}] actual='{subscription.pipeline}')",
                "Subscribe a pipeline that the composition declares, or add the pipeline to it.",
            )
            continue
        producing = found.get(subscription.publication, [])
        if not producing:
            yield undeclared_branch(composition, subscription.publication) or _missing_producer(
                subscription, consumer, found
            )
            continue
        yield from handoff_problems(subscription, producing[0], consumer)


def _missing_producer(subscription: Subscription, consumer: Pipeline, found: dict[str, list[Producer]]) -> Problem:
    close = difflib.get_close_matches(subscription.publication, list(found), n=1)
    near = f"; did you mean '{close[0]}'?" if close else ""
    return Problem(
        "pipelines.E011",
        f"subscription of consumer {consumer.name}/{_first_step(consumer)} to publication "
        f"'{subscription.publication}' has no producer in the composition (expected=1 producer actual=0){near}",
        "Subscribe to a publication that a pipeline of the composition produces (names include the .vN version).",
    )


def _first_step(pipeline: Pipeline) -> str:
    return pipeline.steps[0].name if pipeline.steps else "?"


def _expects(consumer: Pipeline) -> tuple[str, str]:
    """How the consumer's inputs read in a sentence, and as an ``expected=`` value."""
    names = [type_name(m) for m in consumer.inputs]
    if not names:
        return "no input (a source pipeline)", "none"
    if len(names) == 1:
        return names[0], names[0]
    return f"one of {', '.join(names)}", "|".join(names)


def handoff_problems(subscription: Subscription, producer: Producer, consumer: Pipeline) -> Iterator[Problem]:
    """The type, mapper and field checks of one producer → consumer handoff."""
    name = subscription.publication
    produced = producer.publication.model
    actual = type_name(produced)
    expects, expected = _expects(consumer)
    consumer_label = f"{consumer.name}/{_first_step(consumer)}"
    where = f"producer {producer.label} outputs {actual}, consumer {consumer_label} expects {expects}"
    mapper = subscription.mapper
    if mapper is None:
        match = next((m for m in consumer.inputs if type_name(m) == actual), None)
        if match is None:
            yield Problem(
                "pipelines.E014",
                f"handoff type mismatch for publication '{name}': {where} (expected={expected} actual={actual})",
                "Subscribe the consumer to a publication of the type it takes, add the type to its inputs, "
                "or declare a Mapper(producer type, consumer input) on the subscription.",
            )
            return
        yield from compare_contracts(name, where, contract_of(produced), contract_of(match))
        return
    source, target = type_name(mapper.source), type_name(mapper.target)
    match = next((m for m in consumer.inputs if type_name(m) == target), None)
    if source != actual or match is None:
        yield Problem(
            "pipelines.E015",
            f"mapper pair mismatch for publication '{name}': {where}, but the mapper maps {source} -> {target} "
            f"(expected={actual}->{expected} actual={source}->{target})",
            "A subscription's mapper maps exactly (the producer's output type, one of the consumer's inputs).",
        )
        return
    into_mapper = f"producer {producer.label} outputs {actual}, mapper {source}->{target} reads {source}"
    out_of_mapper = f"mapper {source}->{target} outputs {target}, consumer {consumer_label} expects {target}"
    yield from compare_contracts(name, into_mapper, contract_of(produced), contract_of(mapper.source))
    yield from compare_contracts(name, out_of_mapper, contract_of(mapper.target), contract_of(match))


def _names(fields: Iterable[Any]) -> str:
    return "[" + ", ".join(f.name for f in sorted(fields, key=lambda f: f.number)) + "]"


def compare_contracts(name: str, where: str, actual: Contract | None, expected: Contract | None) -> Iterator[Problem]:
    """Field names, numbers, types and required flags of one side (actual) against the other (expected)."""
    if actual is None or expected is None:
        return  # pipelines.E024 reports the missing contract
    hint = "Both sides of a handoff must agree field by field: align the contracts, or bump the version."
    if actual.version != expected.version:
        yield Problem(
            "pipelines.E020",
            f"handoff contract version mismatch for publication '{name}': {where} "
            f"(expected=v{expected.version} actual=v{actual.version})",
            hint,
        )
    mine = {f.name: f for f in actual.fields}
    theirs = {f.name: f for f in expected.fields}
    if set(mine) != set(theirs):
        missing = ", ".join(f for f in theirs if f not in mine) or "none"
        unexpected = ", ".join(f for f in mine if f not in theirs) or "none"
        yield Problem(
            "pipelines.E016",
            f"handoff fields mismatch for publication '{name}': {where} (expected={_names(expected.fields)} "
            f"actual={_names(actual.fields)}; missing: {missing}; unexpected: {unexpected})",
            hint,
        )
    for field_name in (n for n in theirs if n in mine):
        want, got = theirs[field_name], mine[field_name]
        for attribute, code in (("number", "E017"), ("type", "E018"), ("required", "E019")):
            wanted, gotten = getattr(want, attribute), getattr(got, attribute)
            if wanted != gotten:
                yield Problem(
                    f"pipelines.{code}",
                    f"handoff field {attribute} mismatch for publication '{name}' field '{field_name}': {where} "
                    f"(expected={_show(wanted)} actual={_show(gotten)})",
                    hint,
                )


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
