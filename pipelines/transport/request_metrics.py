"""Request counts and latencies per route and transport, and the ``/metrics`` view (Prometheus text).

Every transport records the same two series with the same labels: ``route`` (the URL pattern,
``POST /api/v1/error-sink/entries``, or the gRPC method), ``transport`` (``rest``, ``protobuf``, ``function``,
``grpc``) and ``status`` (the code of the status table: ``OK``, ``INVALID_ARGUMENT``, ...), so the four ways in
can be compared line for line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram

from pipelines.contracts.status import STATUS
from pipelines.engine import metrics
from pipelines.transport.wire_errors import PROTOBUF

REQUESTS = Counter(
    "tpfgo_requests_total", "Requests answered, per route, transport and status code", ["route", "status", "transport"]
)
SECONDS = Histogram(
    "tpfgo_request_seconds", "Request latency in seconds, per route and transport", ["route", "transport"]
)

_CODE_BY_HTTP = {http: code for code, (http, _) in STATUS.items()} | {
    405: "INVALID_ARGUMENT",
    406: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
}
# The route of a request no route matched: an HTTP path, or a gRPC method the server does not know (never the raw
# path or method name, which would let a client add series).
UNMATCHED = "unmatched"
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
# The methods a route label may name; any other method (a client may send any token, the FUNCTION transport any
# text) is counted as OTHER, so a client cannot add series by inventing methods.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def code_for_http(status: int) -> str:
    if status < 400:
        return "OK"
    return _CODE_BY_HTTP.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def record(route: str, transport: str, status: str, seconds: float) -> None:
    REQUESTS.labels(route, status, transport).inc()
    SECONDS.labels(route, transport).observe(seconds)


def http_route(request: HttpRequest) -> str:
    """``METHOD /pattern`` of the matched route (bounded cardinality: never the raw path)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    pattern = _CONVERTER.sub(r"{\1}", match.route)
    method = request.method if request.method in _METHODS else "OTHER"
    return f"{method} /{pattern}"


# The Accept entries under which a JSON answer is acceptable.
JSON_ANSWERS = frozenset({"application/json", "application/*+json", "application/*", "*/*"})


def accepted_media(meta: Mapping[str, Any]) -> list[str]:
    """The media types ``Accept`` takes, most preferred first: by ``q`` (RFC 9110; equal ones in the order given),
    without those of ``q=0``, which the client refuses."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(str(meta.get("HTTP_ACCEPT", "")).split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 1.0
        if media and weight > 0:
            ranked.append((-weight, index, media.lower()))
    return [media for _, _, media in sorted(ranked)]


def takes_json(meta: Mapping[str, Any]) -> bool:
    """Whether ``Accept`` takes a JSON answer at all (``application/json``, ``*/*``, ...), at any ``q`` above 0."""
    return bool(JSON_ANSWERS.intersection(accepted_media(meta)))


def protobuf_only(meta: Mapping[str, Any]) -> bool:
    """Whether the request sends protobuf, or takes a protobuf answer and no JSON one: what a JSON-only route
    refuses with UNIMPLEMENTED. A client that takes both (``application/json, application/x-protobuf``) is
    answered in JSON there."""
    content_type = str(meta.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
    return content_type == PROTOBUF or (PROTOBUF in accepted_media(meta) and not takes_json(meta))


def http_transport(request: HttpRequest) -> str:
    return "protobuf" if protobuf_only(request.META) else "rest"


def record_http(request: HttpRequest, response: HttpResponse, seconds: float, transport: str | None = None) -> None:
    record(http_route(request), transport or http_transport(request), code_for_http(response.status_code), seconds)


class RequestMetricsMiddleware:
    """Times every HTTP request; first in ``MIDDLEWARE`` so the figure covers the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path == "/metrics":
            return response

        def done() -> None:
            record_http(request, response, time.perf_counter() - started)

        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = _Timed(response.streaming_content, done)  # counted once the stream ends
        else:
            done()
        return response


class _Timed:
    """A streaming response's content, counted when the server closes the response (the stream sent, or the client
    gone): an NDJSON ingest or a follow lasts as long as its stream, not as long as the view that returned it."""

    def __init__(self, content: Iterable[object], done: Callable[[], None]) -> None:
        self.content = iter(content)
        self.done: Callable[[], None] | None = done

    def __iter__(self) -> Iterator[object]:
        return self.content

    def close(self) -> None:  # Django calls it from the response's close(), once per response
        done, self.done = self.done, None
        if done is not None:
            done()


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
