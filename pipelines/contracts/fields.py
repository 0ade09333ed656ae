"""Contracts as data: typed fields with stable numbers (as in protobuf) and a version.

A checkpoint model declares its contract next to its fields: each handed-off field carries its number
(``numbered(2, models.CharField(...))``) and ``contract = declared("ReadyOrder", 1)`` reads them, so the fields are
listed once. ``contract(...)`` spells a contract out field by field (for a model without Django fields, a test's).
A publication's ``.vN`` suffix is the version of the contract it hands off. Field names are the camelCase wire
names; the model attribute is the snake_case form.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model

FIELD_TYPES = frozenset({"string", "uuid", "decimal", "datetime", "int", "bool", "json"})
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# A Django field's internal type → the contract type it hands off.
_FIELD_TYPES = {
    "UUIDField": "uuid",
    "DecimalField": "decimal",
    "DateTimeField": "datetime",
    "JSONField": "json",
    "BooleanField": "bool",
    "CharField": "string",
    "TextField": "string",
    "IntegerField": "int",
    "SmallIntegerField": "int",
    "BigIntegerField": "int",
    "PositiveIntegerField": "int",
    "PositiveSmallIntegerField": "int",
    "PositiveBigIntegerField": "int",
}
NUMBER_ATTR = "contract_number"
F = TypeVar("F")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def camel(attr: str) -> str:
    first, *rest = attr.split("_")
    return first + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class Field:
    number: int
    name: str
    type: str
    required: bool = True

    @property
    def attr(self) -> str:
        return snake(self.name)


@dataclass(frozen=True)
class Contract:
    name: str
    version: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def payload(self, obj: object) -> dict[str, Any]:
        """The wire form of ``obj`` under this contract: camelCase keys, JSON-safe values."""
        return {f.name: wire(getattr(obj, f.attr, None)) for f in self.fields}


def contract(name: str, version: int, *fields: tuple[int, str, str] | tuple[int, str, str, bool]) -> Contract:
    """Shorthand: ``contract("DocumentIndexed", 1, (1, "docId", "uuid"), (2, "note", "string", False))``."""
    return Contract(name, version, tuple(Field(*spec) for spec in fields))


def numbered(number: int, field: F) -> F:
    """``field``, handed off as its model's contract field ``number``: named like the attribute (camelCase), typed
    by its class, required unless it may be null or blank."""
    setattr(field, NUMBER_ATTR, number)
    return field


class Declared:
    """``contract = declared("ReadyOrder", 1)`` on a checkpoint model: the contract of its numbered fields.

    A field the model inherits without a number (``created_at``) is handed off by naming it with its number:
    ``declared("ReadyOrder", 1, created_at=7)``. The contract is built on first use, once per model.
    """

    def __init__(self, name: str, version: int, inherited: dict[str, int]) -> None:
        self.name, self.version, self.inherited = name, version, tuple(sorted(inherited.items()))
        self._built: dict[type[Model], Contract] = {}  # by model: every row the engine builds reads it
        _declarations.append(self)

    def __get__(self, instance: object, owner: type[Model]) -> Contract:
        found = self._built.get(owner)
        if found is None:
            found = self._built[owner] = declared_contract(owner, self.name, self.version, self.inherited)
        return found


_declarations: list[Declared] = []


def rebuild_contracts() -> None:
    """Forget every contract built so far: the next read builds it again from the model's fields (a test that
    renumbers a field)."""
    declared_contract.cache_clear()
    for declaration in _declarations:
        declaration._built.clear()


def declared(name: str, version: int, **inherited: int) -> Any:
    """The contract of a model's numbered fields (see ``Declared``); typed ``Any`` so that it stands where the
    model's ``contract: ClassVar[Contract]`` is declared."""
    return Declared(name, version, inherited)


@functools.cache
def declared_contract(model: type[Model], name: str, version: int, inherited: tuple[tuple[str, int], ...]) -> Contract:
    """The contract of ``model``'s numbered fields (and the inherited ones named with a number), by number."""
    extra = dict(inherited)
    fields = []
    for field in model._meta.concrete_fields:
        number = extra.pop(field.attname, getattr(field, NUMBER_ATTR, None))
        if number is None:
            continue
        kind = _FIELD_TYPES.get(field.get_internal_type())
        if kind is None:
            raise TypeError(f"{model.__name__}.{field.attname}: a {field.get_internal_type()} has no contract type")
        fields.append(Field(number, camel(field.attname), kind, not (field.null or field.blank)))
    if extra:
        raise TypeError(f"{model.__name__} hands off fields it does not have: {', '.join(sorted(extra))}")
    return Contract(name, version, tuple(sorted(fields, key=lambda f: f.number)))


def wire(value: object) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return value
