"""The FUNCTION transport: ``handler(event, context)`` for API-gateway proxy events on the unary REST routes.

It builds a Django request from the event, resolves the path with the project's URLconf and calls the same DRF
view REST calls, so authentication, permission, parsing, errors and the answer are those of REST. The streaming
routes (``/api/v1/orders/ingest``, ``/api/v1/subscriptions/stream``) are refused with UNIMPLEMENTED, after the token
and its permission. A binary answer (protobuf) comes back base64-encoded.
"""

from __future__ import annotations

import base64
import io
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from rest_framework.exceptions import APIException, NotAuthenticated
from rest_framework.request import Request
from rest_framework.settings import api_settings

from access.drf import decide_request
from checkout.api import errors
from pipelines import Detail, ServiceError, WireError, request_metrics

API_PREFIX = "/api/v1/"
# The streamed routes (what each is, and the ways in that serve it): an event answers one body, never a stream.
STREAMING = {
    "/api/v1/orders/ingest": ("NDJSON ingest (a stream of orders answered by a stream)", "REST or gRPC IngestOrders"),
    "/api/v1/subscriptions/stream": (
        "a subscription's NDJSON stream (a publication followed from a log position)",
        "REST or gRPC SubscriptionService/Subscribe",
    ),
}
TEXT_TYPES = ("application/json", "text/", "application/vnd.oai.openapi", "application/yaml")


# The event's fields and the JSON type each must have when present (an API gateway's proxy event).
_EVENT_FIELDS: dict[str, tuple[type, str]] = {
    "httpMethod": (str, "a string"),
    "path": (str, "a string"),
    "headers": (Mapping, "an object of header names to values"),
    "queryStringParameters": (Mapping, "an object of parameter names to values"),
    "requestContext": (Mapping, "an object"),
    "body": (str, "a string (base64 when isBase64Encoded)"),
    "isBase64Encoded": (bool, "a boolean"),
}


def malformed(event: object) -> WireError | None:
    """Why ``event`` is not an API-gateway proxy event the handler can read, or None."""
    if not isinstance(event, Mapping):
        issue = "must be an object (an API-gateway proxy event)"
        return WireError("INVALID_ARGUMENT", f"the event {issue}", [Detail("event", issue)])
    details = [
        Detail(name, f"must be {what}")
        for name, (kind, what) in _EVENT_FIELDS.items()
        if event.get(name) is not None and not isinstance(event[name], kind)
    ]
    return WireError("INVALID_ARGUMENT", "the event is malformed", details) if details else None


def _wsgi(text: str, field: str) -> str:
    """Text as a WSGI server passes it: its UTF-8 bytes as latin-1 characters (PEP 3333)."""
    try:
        return text.encode("utf-8").decode("latin-1")
    except UnicodeEncodeError:  # an unpaired surrogate
        raise WireError(
            "INVALID_ARGUMENT", f"{field} must not contain unpaired surrogates", [Detail(field, "unpaired surrogate")]
        ) from None


def _path(text: str) -> str:
    """The event's path as a WSGI server passes ``PATH_INFO``: percent-decoded, the bytes as latin-1 characters (a
    gateway's proxy event carries the path as the client sent it, ``%2D`` still encoded)."""
    return urllib.parse.unquote(_wsgi(text, "path"), encoding="latin-1")


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise WireError(
                "INVALID_ARGUMENT", "isBase64Encoded is set but the body is not base64", [Detail("body", "not base64")]
            )
    try:
        return str(body).encode("utf-8")
    except UnicodeEncodeError:
        raise WireError(
            "INVALID_ARGUMENT", "the body must not contain unpaired surrogates", [Detail("body", "unpaired surrogate")]
        ) from None


def build_request(event: Mapping[str, Any], body: bytes) -> WSGIRequest:
    """The event as a WSGI request: method, path, query string, headers and body."""
    headers = _headers(event)
    query = event.get("queryStringParameters") or {}
    environ: dict[str, Any] = {
        "REQUEST_METHOD": _wsgi(str(event.get("httpMethod") or "GET").upper(), "httpMethod"),
        "PATH_INFO": _path(str(event.get("path") or "/")),
        "SCRIPT_NAME": "",
        "QUERY_STRING": urllib.parse.urlencode({str(k): str(v) for k, v in query.items()}),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": _wsgi(headers.pop("content-type", ""), "headers"),
    }
    headers.pop("content-length", None)
    headers.pop("host", None)
    for name, value in headers.items():
        environ["HTTP_" + _wsgi(name, "headers").upper().replace("-", "_")] = _wsgi(value, "headers")
    return WSGIRequest(environ)


def _authorize(request: HttpRequest) -> None:
    """What every DRF view does first (the token, then its permission); for a route the function refuses before
    reaching a view."""
    request.resolver_match = resolve(request.path_info)
    classes: Any = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    drf_request = Request(request, authenticators=[cls() for cls in classes])
    try:
        if not drf_request.user.is_authenticated:
            raise NotAuthenticated()
        decide_request(drf_request, None)
    except APIException as exc:
        raise errors.to_service_error(exc)


def dispatch(request: HttpRequest) -> HttpResponse:
    path = request.path_info
    try:
        if path in STREAMING:
            _authorize(request)
            what, ways = STREAMING[path]
            raise WireError("UNIMPLEMENTED", f"the FUNCTION transport does not support {what} on {path}; use {ways}")
        if not path.startswith(API_PREFIX):
            raise WireError("NOT_FOUND", f"no route {path}: the FUNCTION transport serves {API_PREFIX} only")
        try:
            match = resolve(path)
        except Resolver404:
            raise WireError("NOT_FOUND", f"no route {path}")
    except ServiceError as exc:
        return errors.render(request, exc)
    request.resolver_match = match
    response: HttpResponse = match.func(request, *match.args, **match.kwargs)
    render = getattr(response, "render", None)
    if callable(render):
        render()
    return response


def _answer(response: HttpResponse) -> dict[str, Any]:
    content_type = response.get("Content-Type", "")
    text = content_type.startswith(TEXT_TYPES) or "json" in content_type
    content = response.content
    return {
        "statusCode": response.status_code,
        "headers": dict(response.items()),
        "body": content.decode("utf-8") if text else base64.b64encode(content).decode("ascii"),
        "isBase64Encoded": not text,
    }


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    """API-gateway proxy event in, ``{statusCode, headers, body, isBase64Encoded}`` out; a malformed event is
    answered 400 ``INVALID_ARGUMENT`` like any bad request."""
    problem = malformed(event)
    event = event if problem is None else {}
    request_id = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    _release_connections()
    try:
        try:
            if problem is not None:
                raise problem
            request = build_request(event, _body(event))
        except WireError as exc:
            try:  # the request without its body, for the answer's log and metrics
                request = build_request({**event, "body": None}, b"")
            except WireError:
                request = build_request({}, b"")
            response = errors.render(request, exc)
        else:
            response = dispatch(request)
        request_metrics.record_http(request, response, time.perf_counter() - started, transport="function")
        return _answer(response)
    finally:
        _release_connections()
        structlog.contextvars.unbind_contextvars("request_id")


def _release_connections() -> None:
    """What Django's request signals do around a request (a warm function reuses its process), but never inside a
    caller's transaction (an in-process caller such as a test)."""
    if not connection.in_atomic_block:
        close_old_connections()
