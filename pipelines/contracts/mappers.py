"""Whether each subscription's mapper can apply (``pipelines.E047``); its pair and fields are ``handoffs``' (E015-E020).

The engine applies a mapper where the consumer pipeline's first step gets the mapper's source
(``pipelines.engine.mapping``). It cannot when the mapper has no ``fields`` function, when that function declares
that it reads another model than the source, when the consumer also takes the source as it is (whether to map it
would be a guess), or when two subscriptions of one consumer map the same source differently.
``docs/contracts.md`` lists the id.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from pipelines.contracts.declarations import Composition, Mapper
from pipelines.contracts.problems import Problem
from pipelines.contracts.rules import type_name

ID = "pipelines.E047"
HINT = (
    "Declare Mapper(source, target, fields) with fields(source) -> the target's field values, on a consumer that "
    "does not also take the source as it is, one mapper per source and consumer (docs/contracts.md, rule 2)."
)


def mapper_problems(composition: Composition) -> Iterator[Problem]:
    pipelines = {p.name: p for p in composition.pipelines}
    seen: dict[tuple[str, str], Mapper] = {}
    for subscription in composition.subscriptions:
        mapper = subscription.mapper
        consumer = pipelines.get(subscription.pipeline)
        if mapper is None or consumer is None:  # a missing consumer is E013
            continue
        source, target = type_name(mapper.source), type_name(mapper.target)
        who = f"the mapper {source} -> {target} of the subscription of {consumer.name} to '{subscription.publication}'"
        reason = _unusable(mapper, source, [type_name(m) for m in consumer.inputs])
        if reason is not None:
            yield Problem(ID, f"{who} cannot apply: {reason}", HINT)
        earlier = seen.setdefault((consumer.name, source), mapper)
        if earlier is not mapper and earlier != mapper:
            yield Problem(ID, _twice(who, consumer.name, source, earlier), HINT)


def _unusable(mapper: Mapper, source: str, inputs: list[str]) -> str | None:
    if not callable(mapper.fields):
        return f"its fields is not a function (expected=a callable actual={type(mapper.fields).__name__})"
    if source in inputs and type_name(mapper.target) in inputs:  # a target it does not take is E015
        return (
            f"the consumer also takes {source} as it is, so a {source} handed to it may be meant mapped or not "
            f"(expected={source} not among the consumer's inputs actual=[{', '.join(inputs)}])"
        )
    reads = _reads(mapper.fields)
    if reads is not None and not (isinstance(reads, type) and issubclass(mapper.source, reads)):
        label = getattr(reads, "__name__", str(reads))
        if label != source:
            return f"its fields function reads {label}, not the source (expected={source} actual={label})"
    return None


def _reads(fields: Any) -> object | None:
    """The annotation of the fields function's first parameter, or None when it declares none (or cannot be read)."""
    try:
        hints = typing.get_type_hints(fields)
    except (NameError, TypeError, AttributeError):  # a partial, a callable object, a name under TYPE_CHECKING
        return None
    names = [name for name in hints if name != "return"]
    read: object = hints[names[0]] if names else Any
    return None if read is Any else read


def _twice(who: str, consumer: str, source: str, earlier: Mapper) -> str:
    return (
        f"{who} cannot apply: another subscription of {consumer} maps {source} as well, with another mapper "
        f"(to {type_name(earlier.target)}) (expected=one mapper of {source} per consumer actual=2)"
    )
