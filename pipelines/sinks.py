"""Error sinks: where a failed attempt is recorded. Composed by ``TPFGO_ERROR_SINKS``.

The stderr sink writes one JSON line (``event="error_sink.entry"``); application logs go to stdout. The
database sink inserts one ``ErrorSinkEntry`` per failed attempt, idempotent by its deterministic id.
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from pipelines.models import ErrorSinkEntry

log = structlog.get_logger("pipelines.sinks")


@dataclass(frozen=True)
class SinkEntry:
    id: uuid.UUID
    pipeline: str
    step: str
    item_type: str
    item_id: uuid.UUID
    trace_id: uuid.UUID
    error_class: str
    error_code: str
    retryable: bool
    message: str
    traceback: str
    payload: Any
    attempt: int
    created_at: datetime.datetime
    source: str = "local"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(json.dumps(asdict(self), cls=DjangoJSONEncoder))
        return data


class ErrorSink(Protocol):
    def record(self, entry: SinkEntry) -> None: ...


class DatabaseSink:
    def record(self, entry: SinkEntry) -> None:
        try:
            with transaction.atomic():
                ErrorSinkEntry.objects.create(**asdict(entry))
        except IntegrityError:
            if not ErrorSinkEntry.objects.filter(pk=entry.id).exists():
                raise


class StderrSink:
    def record(self, entry: SinkEntry) -> None:
        line = json.dumps({"event": "error_sink.entry", **entry.as_json()}, sort_keys=True)
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


@cache
def configured() -> tuple[ErrorSink, ...]:
    return tuple(import_string(path.strip())() for path in settings.TPFGO_ERROR_SINKS if path.strip())


def record(entry: SinkEntry) -> None:
    """Record in every configured sink; one sink failing never stops the others."""
    for sink in configured():
        try:
            sink.record(entry)
        except Exception:  # a broken sink must not hide the failure from the other sinks
            log.exception("error_sink.sink_failed", sink=type(sink).__name__, entry_id=str(entry.id))
