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

import grpc
import requests
import structlog
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from kombu.utils.url import maybe_sanitize_url

from pipelines.failures import scrub
from pipelines.models import MAIN_BRANCH, ErrorSinkEntry
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
    branch: str = MAIN_BRANCH

    def as_json(self) -> dict[str, Any]:
        """The entry as JSON; ``branch`` only off the main branch (absent means main), so a central sink that does
        not know the field still takes every main-branch entry."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self), cls=DjangoJSONEncoder))
        if data["branch"] == MAIN_BRANCH:
            del data["branch"]
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


def store_forwarded(entry: SinkEntry) -> bool:
    """``store`` an entry another instance forwarded (this one as its central sink), its message and traceback
    scrubbed first by the registered finders for the item its payload names (``{"input": snapshot, "event":
    event}``, as ``record.sink_entry`` writes it): an instance of an older release forwards them as they were."""
    payload = entry.payload if isinstance(entry.payload, dict) else {"input": entry.payload}
    event = payload.get("event")
    hide = scrub.for_item(payload.get("input"), event if isinstance(event, dict) else None)
    return store(replace(entry, message=hide(entry.message), traceback=hide(entry.traceback)))


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


GRPC_SCHEMES = ("grpc://", "grpcs://")


def _failure(exc: Exception) -> str:
    """What a failed forward logs: a gRPC call's status and details (a TLS handshake's reason among them), not the
    client's multi-line repr; any other exception's text."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code") and hasattr(exc, "details"):
        return f"{exc.code().name}: {exc.details()}"[:300]
    return str(exc)[:300]


class RemoteSink:
    """Forward each entry to a central sink: REST (``http(s)://…``) or gRPC (``grpc://host:port`` in clear,
    ``grpcs://host:port`` over TLS).

    ``TPFGO_ERROR_SINK_URL`` and ``TPFGO_ERROR_SINK_TOKEN`` say where and as whom; ``TPFGO_ERROR_SINK_CA_FILE`` (a
    PEM file) is the root certificates that ``https://`` and ``grpcs://`` trust, the system's when empty. When
    forwarding fails the entry is recorded by the fallback sinks (``TPFGO_ERROR_SINK_FALLBACK`` minus those already
    configured), so no entry is lost. The central sink is idempotent by entry id, so a retried forward never
    duplicates.
    """

    def __init__(self) -> None:
        self.url = str(getattr(settings, "TPFGO_ERROR_SINK_URL", "")).rstrip("/")
        self.token = str(getattr(settings, "TPFGO_ERROR_SINK_TOKEN", ""))
        self.ca_file = str(getattr(settings, "TPFGO_ERROR_SINK_CA_FILE", ""))
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
            if self.url.startswith(GRPC_SCHEMES):
                self.forward_grpc(forwarded)
            else:
                self.forward_rest(forwarded)
        except Exception as exc:  # noqa: BLE001  (any forwarding failure: record locally, never lose the entry)
            shown = maybe_sanitize_url(self.url)  # a password in the URL stays out of the log
            log.warning("error_sink.forward_failed", entry_id=str(entry.id), url=shown, error=_failure(exc))
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
            verify=self.ca_file or True,
        )
        if response.status_code not in (200, 201):
            raise ForwardingFailed(f"central sink answered {response.status_code}: {response.text[:200]}")

    def channel(self) -> grpc.Channel:
        """``grpcs://``: TLS, trusting ``TPFGO_ERROR_SINK_CA_FILE``'s certificates (the system's when empty);
        ``grpc://``: in clear (``check --deploy`` warns, tpfgo_site.W004, unless the sink is on this host)."""
        if self.url.startswith("grpcs://"):
            roots = None
            if self.ca_file:
                with open(self.ca_file, "rb") as pem:
                    roots = pem.read()
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            return grpc.secure_channel(self.url.removeprefix("grpcs://"), credentials)
        return grpc.insecure_channel(self.url.removeprefix("grpc://"))

    def forward_grpc(self, entry: SinkEntry) -> None:
        if self._channel is None:
            self._channel = self.channel()
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
