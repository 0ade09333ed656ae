"""Contracts as data: typed fields with stable numbers (as in protobuf) and a version.

A checkpoint model names its contract (``contract = Contract(...)``); a publication's ``.vN`` suffix is the
version of the contract it hands off. Field names are the camelCase wire names; the model attribute is the
snake_case form.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = frozenset({"string", "uuid", "decimal", "datetime", "int", "bool", "json"})
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


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


def wire(value: object) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return value
