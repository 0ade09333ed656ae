"""One error, every wire: a ``ServiceError`` rendered as the JSON envelope, a ``google.rpc.Status`` or a gRPC status.

Transports decide nothing here: the code (and with it the HTTP status and the gRPC status code) comes from
``pipelines.contracts.status``; this module only renders it. No rendering ever carries a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from pipelines.contracts.status import STATUS, Detail, ServiceError

DOMAIN = "tpfgo"
PROTOBUF = "application/x-protobuf"


class WireError(ServiceError):
    """A refusal raised by a transport itself (not by a service), with an explicit code and HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        details: list[Detail] | None = None,
        *,
        http_status: int | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, details or ())
        self.code = code
        self._http_status = http_status or STATUS[code][0]
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after

    @property
    def http_status(self) -> int:
        return self._http_status


def flatten(detail: object, path: str = "") -> list[Detail]:
    """DRF's nested validation errors as ``[Detail("menu[0].price", "...")]``."""
    if isinstance(detail, dict):
        out: list[Detail] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors are keyed by index
                out += flatten(value, f"{path}[{key}]")
                continue
            if key == "non_field_errors":  # about the object itself: its own path
                out += flatten(value, path or "body")
                continue
            out += flatten(value, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [Detail(path or "body", str(item)) for item in detail]
        out = []
        for n, item in enumerate(detail):
            out += flatten(item, f"{path}[{n}]")
        return out
    return [Detail(path or "body", str(detail))]


def correlation_id() -> str:
    """The request's log id (django-structlog's ``request_id``, or the one a transport bound)."""
    return str(structlog.contextvars.get_contextvars().get("request_id") or "")


def envelope(error: ServiceError, correlation: str | None = None) -> dict[str, Any]:
    """The JSON error body (docs/api.md, "Errors")."""
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": [{"field": d.field, "issue": d.issue} for d in error.details],
            "correlationId": correlation if correlation is not None else correlation_id(),
        }
    }


def grpc_code(error: ServiceError) -> grpc.StatusCode:
    return grpc.StatusCode[STATUS[error.code][1]]


def status_message(error: ServiceError, correlation: str | None = None) -> status_pb2.Status:
    """A ``google.rpc.Status`` with ``ErrorInfo`` (reason = code), ``BadRequest`` and, if any, ``RetryInfo``."""
    metadata = {"correlationId": correlation if correlation is not None else correlation_id()}
    metadata.update(getattr(error, "metadata", None) or {})
    status = status_pb2.Status(code=grpc_code(error).value[0], message=error.message)
    _pack(status, error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN, metadata=metadata))
    if error.details:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=d.field, description=d.issue) for d in error.details
        ]
        _pack(status, error_details_pb2.BadRequest(field_violations=violations))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        _pack(status, error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def grpc_status(error: ServiceError, correlation: str | None = None) -> grpc.Status:
    """What ``context.abort_with_status`` takes: the code, the message and the packed details."""
    return rpc_status.to_status(status_message(error, correlation))


def _pack(status: status_pb2.Status, detail: object) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)


def describe(status: status_pb2.Status) -> dict[str, Any]:
    """A decoded ``google.rpc.Status`` as ``{code, message, details, metadata}`` (for clients, tests and docs)."""
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    out: dict[str, Any] = {"code": None, "message": status.message, "details": [], "metadata": {}}
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            out["code"] = info.reason
            out["metadata"] = dict(info.metadata)
        elif detail.Is(bad.DESCRIPTOR):
            detail.Unpack(bad)
            out["details"] = [{"field": v.field, "issue": v.description} for v in bad.field_violations]
    if out["code"] is None:
        out["code"] = next((c.name for c in grpc.StatusCode if c.value[0] == status.code), "UNKNOWN")
    return out
