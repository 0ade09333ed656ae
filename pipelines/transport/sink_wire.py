"""Error-sink entries on the wire: the JSON body of ``POST /api/v1/error-sink/entries`` and the
``tpfgo.ops.v1.ErrorSinkEntry`` message, both parsed into one ``SinkEntry`` with the same rules.

Ids are UUIDs, times ISO-8601 with a zone, the payload any JSON value (a JSON text in the message).
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from typing import Any

from pipelines.contracts.status import Detail, InvalidArgument
from pipelines.contracts.text import strings
from pipelines.failures.sinks import SinkEntry
from pipelines.models import MAIN_BRANCH
from pipelines.protos import error_sink_pb2
from pipelines.transport import input_limits

STRINGS = ("pipeline", "step", "item_type", "error_class", "error_code", "message")
UUIDS = ("id", "item_id", "trace_id")
MAX_ATTEMPT = 2**31 - 1  # the largest attempt number every database stores (a PostgreSQL integer)
_UUID = re.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# An entry's lineage branch: absent, empty or "main" for the main branch, else a fork's id.
BRANCH_PATTERN = f"^({MAIN_BRANCH}|{_UUID.pattern})?$"
FIELDS = frozenset((*STRINGS, *UUIDS, "retryable", "traceback", "payload", "attempt", "created_at", "source", "branch"))


def parse(data: object) -> SinkEntry:
    """A JSON object → an entry; every problem is named in the ``InvalidArgument`` details."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    problems = [Detail(name, "unknown field") for name in sorted(set(data) - FIELDS)]
    for name in STRINGS:
        if not isinstance(data.get(name), str) or not data[name].strip():
            problems.append(Detail(name, "is required (a non-empty string)"))
    ids: dict[str, uuid.UUID] = {}
    for name in UUIDS:
        text = data.get(name)
        if isinstance(text, str) and _UUID.fullmatch(text):  # as written, not "+…", braces or dashes elsewhere
            ids[name] = uuid.UUID(text)
        else:
            problems.append(Detail(name, "must be a UUID"))
    if not isinstance(data.get("retryable"), bool):
        problems.append(Detail("retryable", "must be true or false"))
    attempt = data.get("attempt")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or not 1 <= attempt <= MAX_ATTEMPT:
        problems.append(Detail("attempt", f"must be an integer from 1 to {MAX_ATTEMPT}"))
    created = _utc(data.get("created_at"))
    if created is None:
        problems.append(Detail("created_at", "must be an ISO-8601 time with a zone"))
    for name in ("traceback", "source"):
        if data.get(name) is not None and not isinstance(data[name], str):  # not false, 0, [] or {} taken for ""
            problems.append(Detail(name, "must be a string"))
    branch = data.get("branch")
    branch = MAIN_BRANCH if branch is None or branch == "" else branch  # not false, 0 or [] taken for main
    if not isinstance(branch, str) or not re.fullmatch(BRANCH_PATTERN, branch):
        problems.append(Detail("branch", f"must be {MAIN_BRANCH!r} or a fork's id (a UUID)"))
    texts: dict[str, str] = {n: v for n in (*STRINGS, "traceback", "source") if isinstance(v := data.get(n), str)}
    problems += [Detail(name, "has characters that cannot be stored") for name, t in texts.items() if not storable(t)]
    if not all(storable(t) for t in strings(data.get("payload"))):
        problems.append(Detail("payload", "has characters that cannot be stored"))
    if problems:
        raise InvalidArgument("the error-sink entry is invalid", problems)
    assert isinstance(created, datetime.datetime) and isinstance(attempt, int)
    return SinkEntry(
        id=ids["id"],
        pipeline=data["pipeline"][:100],
        step=data["step"][:100],
        item_type=data["item_type"][:100],
        item_id=ids["item_id"],
        trace_id=ids["trace_id"],
        error_class=data["error_class"][:200],
        error_code=data["error_code"][:100],
        retryable=data["retryable"],
        message=data["message"],
        traceback=data.get("traceback") or "",
        payload=data["payload"] if data.get("payload") is not None else {},
        attempt=attempt,
        created_at=created,
        source=(data.get("source") or "remote")[:100],
        branch=str(branch),
    )


def _utc(value: object) -> datetime.datetime | None:
    parsed = input_limits.parse_time(value)  # None: malformed, impossible, or outside years 1-9999 in UTC
    return parsed.astimezone(datetime.UTC) if parsed is not None and parsed.tzinfo is not None else None


def storable(text: str) -> bool:
    """Text every database stores as given: valid UTF-8 (no lone surrogates) and no NUL character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def from_message(message: error_sink_pb2.ErrorSinkEntry) -> SinkEntry:
    data: dict[str, Any] = {
        name: getattr(message, name)
        for name in (*STRINGS, *UUIDS, "retryable", "traceback", "attempt", "source", "branch")
    }
    data["created_at"] = message.created_at
    try:
        data["payload"] = input_limits.loads(message.payload_json, "payload_json") if message.payload_json else None
    except ValueError:
        raise InvalidArgument("payload_json must be JSON text", [Detail("payload_json", "not JSON")])
    return parse(data)
