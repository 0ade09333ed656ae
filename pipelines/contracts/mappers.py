"""Whether each subscription's mapper can apply (``pipelines.E047``) and what its consumer's first step may point at
(``pipelines.E049``); its pair and fields are ``handoffs``' (E015-E020).

The engine applies a mapper where the consumer pipeline's first step gets the mapper's source
(``pipelines.engine.mapping``). It cannot when the mapper has no ``fields`` function, when that function declares
that it reads another model than the source, when the consumer also takes the source as it is (whether to map it
would be a guess), or when two subscriptions of one consumer map the same source differently. The mapped step's
input is not stored, so nothing it writes may hold a foreign key to the target (its id is the source's): neither
its rows nor the child rows they own (every ``CheckpointChild`` class with a foreign key to one of its models).
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


# -- what a mapped first step may point at --------------------------------------------------------------------------
KEY_ID = "pipelines.E049"
KEY_HINT = (
    "A mapped step's ctx.input is the target made from the source, never stored, with the source's id: point the "
    "foreign key at the source's model, or keep the id in a plain field (docs/contracts.md, rule 2)."
)


def mapped_key_problems(composition: Composition) -> Iterator[Problem]:
    """No checkpoint a mapped first step writes, nor a child row one of them owns, has a foreign key to the mapper's
    target (``pipelines.E049``): its ``ctx.input`` is a target made from the source and never stored, whose id
    (``ctx.input.pk``) is the source's, so such a key would name a row of the target's table that is not there."""
    pipelines = {p.name: p for p in composition.pipelines}
    seen: set[tuple[str, type[Any], str]] = set()
    for subscription in composition.subscriptions:
        mapper = subscription.mapper
        consumer = pipelines.get(subscription.pipeline)
        if mapper is None or consumer is None or not consumer.steps or not isinstance(mapper.target, type):
            continue
        first = consumer.steps[0]
        written = [*first.models, *(branch.model for branch in first.side_outputs)]
        for model, field, owner in _keys_to(mapper.target, written):
            if (consumer.name, model, field) in seen:
                continue
            seen.add((consumer.name, model, field))
            source, target = type_name(mapper.source), type_name(mapper.target)
            owned = f", a child row of {owner.__name__}," if owner is not None else ""
            yield Problem(
                KEY_ID,
                f"step {consumer.name}/{first.name} reads {target} mapped from {source} (the subscription to "
                f"'{subscription.publication}'), and {model.__name__}.{field}{owned} is a foreign key to {target}: "
                f"the mapped input is not stored and has the {source}'s id (expected=no foreign key to {target} "
                f"actual={model.__name__}.{field})",
                KEY_HINT,
            )


def _keys_to(target: type[Any], models: list[type[Any]]) -> Iterator[tuple[type[Any], str, type[Any] | None]]:
    """Each foreign key to ``target`` (or a model it is) of ``models`` and of the child rows each of them owns, with
    the child's owner (None for a model's own key). A child's key to its owner is left out: the owner is stored."""
    for model in models:
        yield from ((model, name, None) for name in _keys(model, target))
        for child in _children_of(model):
            yield from ((child, name, model) for name in _keys(child, target, besides=model))


def _keys(model: type[Any], target: type[Any], besides: type[Any] | None = None) -> Iterator[str]:
    """The names of ``model``'s foreign keys to ``target``, but its first to ``besides`` (its owner's)."""
    owner_key = True
    for field in model._meta.fields:
        related = field.related_model if field.is_relation else None
        if owner_key and besides is not None and related is besides:  # the owner column (``fast.owner_column``)
            owner_key = False
            continue
        if isinstance(related, type) and issubclass(target, related):
            yield field.name


def _children_of(owner: type[Any]) -> list[type[Any]]:
    """The ``CheckpointChild`` models a row of ``owner`` may own (``Output.children``): each with a foreign key to it,
    as the engine finds a child's owner column. Every such class is walked, abstract ones too."""
    from pipelines.models import CheckpointChild  # the models need the app registry; the checks run after it

    found, stack = [], list(CheckpointChild.__subclasses__())
    while stack:
        child = stack.pop()
        stack.extend(child.__subclasses__())
        if any(field.is_relation and field.related_model is owner for field in child._meta.fields):
            found.append(child)
    return sorted(found, key=lambda child: child.__name__)
