"""OpenAPI helpers: the error responses, path and header parameters every route declares.

A route that speaks protobuf-over-HTTP declares each answer twice: the JSON schema for ``application/json`` and
opaque bytes (the gRPC message, or a ``google.rpc.Status`` for an error) for ``application/x-protobuf``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from checkout.api.serializers import ErrorSerializer
from pipelines import PROTOBUF

JSON = "application/json"

_WHEN = {
    400: "INVALID_ARGUMENT: malformed body or failed validation (nothing is stored)",
    401: "UNAUTHENTICATED: missing or invalid token",
    403: "PERMISSION_DENIED: the token lacks a permission",
    404: "NOT_FOUND: unknown or malformed id in the URL",
    406: "INVALID_ARGUMENT: no acceptable response format",
    409: "ALREADY_EXISTS",
    410: "PURGED: the retention policy removed the order (of this Idempotency-Key, or of this id); nothing is stored",
    412: "FAILED_PRECONDITION: not allowed in the order's derived state",
    413: "RESOURCE_EXHAUSTED: the body is larger than TPFGO_API_MAX_BODY_BYTES (nothing is read or stored)",
    415: "INVALID_ARGUMENT: unsupported media type",
    429: "RESOURCE_EXHAUSTED: the backlog bound is reached (Retry-After); nothing is stored",
    500: "INTERNAL (never a traceback)",
    501: "UNIMPLEMENTED: call shape not supported on this transport (e.g. protobuf on a JSON-only route)",
    503: "UNAVAILABLE: a dependency is down; retry",
}
COMMON = (400, 401, 403, 406, 500, 501, 503)
WITH_BODY = (*COMMON, 413, 415)


def responses(
    success: dict[int, Any], errors: tuple[int, ...], *, protobuf: bool = False
) -> dict[int | tuple[int, str], Any]:
    """``extend_schema(responses=...)`` for the given success schemas and error statuses."""
    out: dict[int | tuple[int, str], Any] = {}
    for status, schema in success.items():
        if protobuf:
            out[(status, JSON)] = schema
            out[(status, PROTOBUF)] = OpenApiResponse(OpenApiTypes.BINARY, description="the gRPC response message")
        else:
            out[status] = schema
    for status in sorted(errors):
        # An error is the JSON envelope whatever the route renders on success (NDJSON, say), or a Status.
        out[(status, JSON)] = OpenApiResponse(ErrorSerializer, description=_WHEN[status])
        if protobuf:
            out[(status, PROTOBUF)] = OpenApiResponse(OpenApiTypes.BINARY, description="a google.rpc.Status")
    return out


def request(schema: object, *, protobuf: bool) -> Any:
    if not protobuf:
        return schema
    return {JSON: schema, PROTOBUF: OpenApiTypes.BINARY}


def path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.PATH,
        description=f"the {what} id (a UUID for orders, tickets and dispatches; anything else is NOT_FOUND)",
    )


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^[A-Za-z0-9._:-]{1,128}$",
    description="1-128 characters of A-Za-z0-9._:-; a replay of the same key and request answers 200",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    enum=["true"],
    description="set on the answer to a replay",
)


# Operations whose body is required although one of their media types is opaque bytes or text (drf-spectacular
# then leaves ``requestBody.required`` unset): the server refuses them without a body.
BODY_REQUIRED = frozenset({"createOrder", "ingestOrders"})


def require_bodies(result: dict[str, Any], generator: object, request: object, public: bool) -> dict[str, Any]:
    """A drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("operationId") in BODY_REQUIRED:
                operation["requestBody"]["required"] = True
    return result
