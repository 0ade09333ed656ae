"""Deterministic identity: length-framed seeds, name-based UUIDs and idempotency keys."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.contracts.errors import ContractError
from pipelines.contracts.status import Detail, InvalidArgument

# What every transport accepts as an idempotency key (the key a source pipeline's root id is derived from).
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def check_key(key: str | None) -> str:
    """The idempotency key as given, or ``INVALID_ARGUMENT`` when it is missing or malformed."""
    if key is None or not KEY_PATTERN.match(key):
        raise InvalidArgument(
            "Idempotency-Key is required: 1-128 characters of A-Za-z0-9._:-",
            [Detail("Idempotency-Key", "missing or malformed")],
        )
    return key


def framed_seed(*parts: object) -> str:
    """Frame each component as ``#<len>:<value>`` so delimiters inside values cannot collide.

    ``("a:b", "c")`` becomes ``#3:a:b#1:c`` and ``("a", "b:c")`` becomes ``#1:a#3:b:c``.
    ``None`` frames as the empty string.
    """
    out = []
    for part in parts:
        text = "" if part is None else str(part)
        out.append(f"#{len(text)}:{text}")
    return "".join(out)


# Version 3 and the RFC 4122 variant, set on the 128-bit value as ``uuid.UUID(..., version=3)`` sets them.
_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (3 << 76) | (0x8000 << 48)
_SAFETY = uuid.SafeUUID.unknown
_set_attr = object.__setattr__


def name_uuid(seed: str) -> uuid.UUID:
    """A version-3 UUID of the raw seed bytes (Java's ``UUID.nameUUIDFromBytes``), no namespace prefix.

    Built from its integer value directly: ``uuid.UUID(bytes=...)`` checks its arguments in Python, and an id is
    computed for every checkpoint of every step.
    """
    value = int.from_bytes(hashlib.md5(seed.encode("utf-8"), usedforsecurity=False).digest()) & _KEEP | _SET
    out = object.__new__(uuid.UUID)
    _set_attr(out, "int", value)
    _set_attr(out, "is_safe", _SAFETY)
    return out


_texts: dict[int, str] = {}


def text(value: uuid.UUID) -> str:
    """``str(value)``, remembered (bounded) by the id's integer (a UUID hashes in Python): a trace's root id is
    often the business key of each of its checkpoints, and ``UUID.__str__`` formats in Python."""
    found = _texts.get(value.int)
    if found is None:
        if len(_texts) >= 100_000:
            _texts.clear()
        found = _texts[value.int] = str(value)
    return found


def deterministic_id(*parts: object) -> uuid.UUID:
    return name_uuid(framed_seed(*parts))


def child_id(parent_id: uuid.UUID | str, step: str, index: int | None = None) -> uuid.UUID:
    """The id of a step's output: derived from its parent's id, the step and, for a split, the index."""
    if index is None:
        return deterministic_id(str(parent_id), step)
    return deterministic_id(str(parent_id), step, index)


def merge_id(parent_ids: Iterable[uuid.UUID | str], step: str) -> uuid.UUID:
    """One id for a merge whatever the arrival order: the parents are sorted by id string."""
    ordered = sorted(str(p) for p in parent_ids)
    return deterministic_id("merge", step, *ordered)


def idempotency_key(incoming: str | None, key_fields: Iterable[str], payload: Mapping[str, Any]) -> str:
    """Preserve an incoming key; otherwise join the declared key fields with ``:``.

    A blank or missing key field is a contract error: a key that silently collapses would merge items.
    """
    if incoming is not None and incoming.strip():
        return incoming.strip()
    values = []
    for name in key_fields:
        value = payload.get(name)
        text = "" if value is None else str(value).strip()
        if not text:
            raise ContractError(f"key field {name!r} is blank")
        values.append(text)
    if not values:
        raise ContractError("no key fields declared and no incoming key")
    return ":".join(values)
