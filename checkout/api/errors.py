"""Every refusal of the HTTP API as the JSON envelope or a serialized ``google.rpc.Status`` (by the client's format).

``exception_handler`` is DRF's ``EXCEPTION_HANDLER``: service errors keep their code, DRF's own refusals are mapped
onto the status table (405/406/415 keep their HTTP status with code INVALID_ARGUMENT), a database that cannot be
reached is UNAVAILABLE with ``Retry-After`` (``pipelines.transport.outage``), anything else is INTERNAL
with no traceback in the body (the traceback goes to the log). ``bad_request``/``not_found``/``server_error`` are
the root URLconf's handlers, so ``/api/`` and ``/ftgo/`` requests refused before any view answer with the envelope too.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults
from rest_framework import exceptions

from checkout.api.protobuf import errors_in_protobuf
from pipelines import (
    PROTOBUF,
    Detail,
    ServiceError,
    WireError,
    envelope,
    flatten,
    outage,
    scrubber_for,
    status_message,
)

log = structlog.get_logger("checkout.api")

# DRF refusals that keep their own HTTP status but carry code INVALID_ARGUMENT (docs/api.md's status table).
_SHAPE_REFUSALS = (exceptions.MethodNotAllowed, exceptions.NotAcceptable, exceptions.UnsupportedMediaType)
_BY_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def to_service_error(exc: BaseException, named: Callable[[], Mapping[str, Any]] | None = None) -> ServiceError:
    """Any exception raised while serving a request → the error the client sees. ``named``: what the request names
    (its URL's ids, its body), whose payment tokens an unexpected error's logged text must not quote."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return WireError("UNAUTHENTICATED", str(exc.detail))
    if isinstance(exc, exceptions.PermissionDenied | DjangoPermissionDenied):
        return WireError("PERMISSION_DENIED", "you do not have permission to do this")
    if isinstance(exc, exceptions.NotFound | Http404):
        return WireError("NOT_FOUND", "not found")
    if isinstance(exc, _SHAPE_REFUSALS):
        return WireError("INVALID_ARGUMENT", str(exc.detail), http_status=exc.status_code)
    if isinstance(exc, exceptions.ParseError):
        return WireError("INVALID_ARGUMENT", str(exc.detail), [Detail("body", "malformed")])
    if isinstance(exc, exceptions.ValidationError):
        return WireError("INVALID_ARGUMENT", "the request is invalid", flatten(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return WireError("RESOURCE_EXHAUSTED", str(exc.detail), retry_after=getattr(exc, "wait", None))
    if isinstance(exc, exceptions.APIException) and exc.status_code in _BY_STATUS:
        return WireError(_BY_STATUS[exc.status_code], str(exc.detail))
    if outage.is_outage(exc):
        log.warning("api.database_unavailable", error=f"{type(exc).__name__}: {exc}")
        return outage.unavailable()
    log.error("api.internal_error", exception=_scrubbed_traceback(exc, named))
    return WireError("INTERNAL", "internal error; quote the correlationId when reporting it")


def _scrubbed_traceback(exc: BaseException, named: Callable[[], Mapping[str, Any]] | None) -> str:
    """``exc``'s traceback as the log prints one, every payment token the request leads to (the token in its body,
    the order its URL names: ``personal.payment_tokens_to_hide``) replaced by its hint, as a failed step's is."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    return scrubber_for(named() if named is not None else {}, None)(text)


def _named(context: dict[str, Any]) -> Callable[[], Mapping[str, Any]]:
    """What the failed request names, read only if an unexpected error is logged: its URL's keyword arguments (an
    ``order_id``) and its parsed body."""

    def read() -> Mapping[str, Any]:
        kwargs = {name: str(value) for name, value in (context.get("kwargs") or {}).items()}
        request = context.get("request")
        try:
            body = getattr(request, "data", None)
        except exceptions.APIException:  # a body that does not parse names nothing: the URL's ids alone
            body = None
        return {"url": kwargs, "body": body}

    return read


def render(request: HttpRequest, error: ServiceError, view: object = None) -> HttpResponse:
    """The error in the client's format: JSON envelope, or ``google.rpc.Status`` for a protobuf client of a route
    that answers protobuf (``view``'s), or of any route when it takes no JSON (``errors_in_protobuf``)."""
    if errors_in_protobuf(request, view):
        response = HttpResponse(status_message(error).SerializeToString(), content_type=PROTOBUF)
    else:
        response = HttpResponse(json.dumps(envelope(error)), content_type="application/json")
    response.status_code = error.http_status
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


def _shape_refusal(exc: exceptions.APIException, context: dict[str, Any]) -> WireError | None:
    """DRF's 405, 406 and 415, worded in the project's words and naming what the route takes (DRF's sentences,
    'Method "PUT" not allowed.', named neither); a 406 the project words itself keeps its message."""
    request, view = context["request"], context.get("view")
    if isinstance(exc, exceptions.MethodNotAllowed):
        message = f"{request.method} is not allowed on this route; the Allow header lists the methods it takes"
    elif isinstance(exc, exceptions.UnsupportedMediaType) and view is not None:
        takes = ", ".join(parser.media_type for parser in view.get_parsers())
        message = f"a body of Content-Type {request.content_type} is not accepted on this route: send {takes}"
    elif isinstance(exc, exceptions.NotAcceptable) and exc.detail == exceptions.NotAcceptable.default_detail:
        answers = ", ".join(renderer.media_type for renderer in view.get_renderers()) if view else "application/json"
        message = f"no answer format of this route matches the Accept header: it answers {answers}"
    else:
        return None
    return WireError("INVALID_ARGUMENT", message, http_status=exc.status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    shape = _shape_refusal(exc, context) if isinstance(exc, _SHAPE_REFUSALS) else None
    response = render(context["request"], shape or to_service_error(exc, _named(context)), context.get("view"))
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/ftgo/"))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return render(request, WireError("INVALID_ARGUMENT", "bad request", [Detail("request", "malformed")]))
    return defaults.bad_request(request, exception or Exception())


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return render(request, WireError("NOT_FOUND", f"no route {request.path}"))
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return render(request, WireError("INTERNAL", "internal error; quote the correlationId when reporting it"))
    return defaults.server_error(request)
