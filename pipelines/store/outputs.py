"""A step's ``Output`` fields checked against the model they are written to, before its row is built.

A step names its output's fields by attribute (``Output({"doc_id": …, "text": …})``). A name the model does not
have, or a required field left out, is the step author's mistake and the same on every attempt: it is a
``ContractError`` (``CONTRACT_VIOLATION``, not retried) naming the fields, where the model's constructor would raise a
bare ``TypeError`` and the database a ``NOT NULL`` failure, both retried as unexpected errors until dead-lettered (and
a text field left out would be stored empty). Required means what the contract means by it (docs/contracts.md): the
column may be neither null nor blank, and it has no default. The engine's own columns are set after this check.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models

from pipelines.contracts.errors import ContractError
from pipelines.models import Checkpoint
from pipelines.store.fast import M, instantiate

# The columns the engine sets on every checkpoint row (docs/architecture.md, "Three kinds of model").
ENGINE_COLUMNS = frozenset(f.attname for f in Checkpoint._meta.get_fields() if isinstance(f, models.Field))


@dataclass(frozen=True)
class _Shape:
    known: frozenset[str]  # the names a step may give: each concrete field's name and attname
    required: frozenset[str]  # attnames a step must give
    names: dict[str, str]  # attname -> name (a foreign key may be given either way)


_shapes: dict[type[models.Model], _Shape] = {}


def _shape(model: type[models.Model]) -> _Shape:
    found = _shapes.get(model)
    if found is None:
        fields = model._meta.concrete_fields
        engine = ENGINE_COLUMNS | {getattr(model, "branch_field", None) or ""}
        found = _shapes[model] = _Shape(
            known=frozenset({f.name for f in fields} | {f.attname for f in fields}),
            required=frozenset(
                f.attname
                for f in fields
                if not (f.null or f.blank or f.has_default() or f.primary_key or f.attname in engine)
            ),
            names={f.attname: f.name for f in fields},
        )
    return found


def output_row(model: type[M], fields: Mapping[str, Any]) -> M:
    """``model(**fields)`` built the fast way (``fast.instantiate``), once the fields fit the model."""
    shape = _shape(model)
    if not (fields.keys() <= shape.known and fields.keys() >= shape.required):
        _refuse_misfit(model, fields, shape)
    return instantiate(model, fields)


def _refuse_misfit(model: type[models.Model], fields: Mapping[str, Any], shape: _Shape) -> None:
    """Raise the ``ContractError`` that names what does not fit; return when everything does after all (a
    foreign key given by its name, a property the constructor sets)."""
    unknown = sorted(k for k in fields if k not in shape.known and not isinstance(getattr(model, k, None), property))
    missing = sorted(a for a in shape.required if a not in fields and shape.names[a] not in fields)
    if not unknown and not missing:
        return
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(shape.known - ENGINE_COLUMNS), n=1)
        problems.append(f"{name!r} is no field of it" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if missing:
        problems.append("it leaves out the required field(s) " + ", ".join(repr(shape.names[a]) for a in missing))
    settable = sorted({shape.names[a] for a in shape.names} - ENGINE_COLUMNS - {getattr(model, "branch_field", "")})
    raise ContractError(
        f"the Output for {model.__name__} does not fit the model: {'; '.join(problems)} "
        f"(a step gives exactly these fields, by attribute name, the required ones always: {', '.join(settable)})"
    )
