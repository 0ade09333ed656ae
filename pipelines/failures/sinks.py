"""Error sinks: where a failed attempt is recorded. Composed by ``TPFGO_ERROR_SINKS``.

The stderr sink writes one JSON line (``event="error_sink.entry"``); application logs go to stdout. The
database sink inserts one ``ErrorSinkEntry`` per failed attempt, idempotent by its deterministic id. The remote
sink forwards entries to a central sink (this project serves one: ``pipelines.transport.error_sink_views`` over REST and
``pipelines.transport.error_sink_rpc`` over gRPC) and falls back to the local sinks when forwarding fails. Keep the
database sink configured too: a domain's view of a stalled item (checkout's ``stalled``) reads the local entries.
"""

from __future__ import annotations

import datetime
import json
import socket
import sys
import uuid
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any, Protocol

import requests
import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from kombu.utils.url import maybe_sanitize_url

from pipelines.models import ErrorSinkEntry
from pipelines.protos import error_sink_pb2

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
    source: str = ErrorSinkEntry.LOCAL

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(json.dumps(asdict(self), cls=DjangoJSONEncoder))
        return data

    def as_message(self) -> error_sink_pb2.ErrorSinkEntry:
        """The ``tpfgo.ops.v1.ErrorSinkEntry`` message (``pipelines.transport.sink_wire`` parses it back)."""
        data = self.as_json()
        payload = data.pop("payload")
        return error_sink_pb2.ErrorSinkEntry(**data, payload_json=json.dumps(payload))


class ErrorSink(Protocol):
    def record(self, entry: SinkEntry) -> None: ...


def store(entry: SinkEntry) -> bool:
    """Insert the entry once (idempotent by its id); True when this call stored it."""
    try:
        with transaction.atomic():
            ErrorSinkEntry.objects.create(**asdict(entry))
    except IntegrityError:
        if not ErrorSinkEntry.objects.filter(pk=entry.id).exists():
            raise
        return False
    return True


class DatabaseSink:
    def record(self, entry: SinkEntry) -> None:
        store(entry)


class StderrSink:
    def record(self, entry: SinkEntry) -> None:
        line = json.dumps({"event": "error_sink.entry", **entry.as_json()}, sort_keys=True)
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class ForwardingFailed(Exception):
    """The central sink did not confirm the entry (unreachable, refused, or an unexpected answer)."""


class RemoteSink:
    """Forward each entry to a central sink: REST (``http(s)://…``) or gRPC (``grpc://host:port``).

    ``TPFGO_ERROR_SINK_URL`` and ``TPFGO_ERROR_SINK_TOKEN`` say where and as whom. When forwarding fails the
    entry is recorded by the fallback sinks (``TPFGO_ERROR_SINK_FALLBACK`` minus those already configured), so no
    entry is lost. The central sink is idempotent by entry id, so a retried forward never duplicates.
    """

    def __init__(self) -> None:
        self.url = str(getattr(settings, "TPFGO_ERROR_SINK_URL", "")).rstrip("/")
        self.token = str(getattr(settings, "TPFGO_ERROR_SINK_TOKEN", ""))
        self.timeout = float(getattr(settings, "TPFGO_ERROR_SINK_TIMEOUT", 3.0))
        self.source = str(getattr(settings, "TPFGO_ERROR_SINK_SOURCE", "") or socket.gethostname())
        self._channel: Any = None

    def fallback(self) -> tuple[ErrorSink, ...]:
        paths = getattr(settings, "TPFGO_ERROR_SINK_FALLBACK", [DATABASE, STDERR])
        already = {p.strip() for p in settings.TPFGO_ERROR_SINKS}
        return tuple(import_string(p.strip())() for p in paths if p.strip() and p.strip() not in already)

    def record(self, entry: SinkEntry) -> None:
        forwarded = replace(entry, source=self.source) if entry.source == ErrorSinkEntry.LOCAL else entry
        try:
            if not self.url:
                raise ForwardingFailed("TPFGO_ERROR_SINK_URL is not set")
            if self.url.startswith("grpc://"):
                self.forward_grpc(forwarded)
            else:
                self.forward_rest(forwarded)
        except Exception as exc:  # noqa: BLE001  (any forwarding failure: record locally, never lose the entry)
            shown = maybe_sanitize_url(self.url)  # a password in the URL stays out of the log
            log.warning("error_sink.forward_failed", entry_id=str(entry.id), url=shown, error=str(exc)[:300])
            for sink in self.fallback():
                sink.record(entry)
            return
        log.info("error_sink.forwarded", entry_id=str(entry.id), url=maybe_sanitize_url(self.url))

    def forward_rest(self, entry: SinkEntry) -> None:
        response = requests.post(
            f"{self.url}/api/v1/error-sink/entries",
            json=entry.as_json(),
            headers={"Authorization": f"Token {self.token}"},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise ForwardingFailed(f"central sink answered {response.status_code}: {response.text[:200]}")

    def forward_grpc(self, entry: SinkEntry) -> None:
        import grpc  # only a sink that forwards over gRPC loads the client

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.url.removeprefix("grpc://"))
        record = self._channel.unary_unary(
            "/tpfgo.ops.v1.ErrorSinkService/Record",
            request_serializer=error_sink_pb2.ErrorSinkEntry.SerializeToString,
            response_deserializer=error_sink_pb2.RecordResponse.FromString,
        )
        record(entry.as_message(), timeout=self.timeout, metadata=(("authorization", f"Token {self.token}"),))


DATABASE = "pipelines.failures.sinks.DatabaseSink"
STDERR = "pipelines.failures.sinks.StderrSink"


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
