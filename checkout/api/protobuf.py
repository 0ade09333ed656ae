"""Protobuf-over-HTTP: the parser and renderer of ``application/x-protobuf``, and which format a client speaks.

A route opts in by naming its gRPC messages per HTTP method (``ProtoSpec``); the body is then the gRPC request
message and the answer the gRPC response message. The format of an answer follows ``Accept``, else
``Content-Type``; errors are rendered by ``checkout.api.errors`` with the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from django.http import HttpRequest
from google.protobuf.message import Message
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from checkout import messages
from pipelines import PROTOBUF, WireError, accepted_media, protobuf_only, takes_json

JSON = "application/json"


@dataclass(frozen=True)
class ProtoSpec:
    """The gRPC messages of one route and method: the request (``None``: no body) and the response."""

    request: type[Message] | None
    response: type[Message]


class ProtoData(dict[str, Any]):
    """A parsed protobuf body: the JSON dict a JSON client would have sent, plus the message itself."""

    def __init__(self, message: Message) -> None:
        super().__init__(messages.to_data(message))
        self.message = message


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def content_type(request: HttpRequest | Request) -> str:
    return _media(request.META.get("CONTENT_TYPE", ""))


def accepted(request: HttpRequest | Request) -> list[str]:
    """``Accept``'s media types, most preferred first, without those of ``q=0``."""
    return accepted_media(request.META)


def answers_in_protobuf(request: HttpRequest | Request) -> bool:
    """The answer's format: ``Accept`` decides when it takes protobuf or JSON (the one it prefers, by ``q``), else
    ``Content-Type`` does."""
    for media in accepted(request):
        if media == PROTOBUF:
            return True
        if media in (JSON, "application/*+json"):
            return False
    return content_type(request) == PROTOBUF


def errors_in_protobuf(request: HttpRequest | Request, view: object = None) -> bool:
    """An error's format: the answer's (:func:`answers_in_protobuf`), except on a route that answers the method in
    JSON only (no ``ProtoSpec``; no view at all) when the client takes JSON too, by ``*/*`` or at a lower ``q``:
    then JSON, what the route produces and what its answer would have been. A client that takes no JSON still
    gets a ``google.rpc.Status``."""
    if not answers_in_protobuf(request):
        return False
    return request.method in getattr(view, "protobuf", {}) or not takes_json(request.META)


def speaks_protobuf(request: HttpRequest | Request) -> bool:
    """The client sends protobuf, or takes a protobuf answer and no JSON one (``pipelines.protobuf_only``)."""
    return protobuf_only(request.META)


class ProtobufParser(BaseParser):
    media_type = PROTOBUF

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> ProtoData:
        view, request = parser_context["view"], parser_context["request"]
        spec: ProtoSpec | None = getattr(view, "protobuf", {}).get(request.method)
        if spec is None or spec.request is None:
            raise WireError("UNIMPLEMENTED", f"{request.method} {request.path} takes no protobuf body")
        return ProtoData(messages.decode(spec.request, stream.read() if stream else b""))


class ProtobufRenderer(BaseRenderer):
    media_type = PROTOBUF
    format = "protobuf"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        view, request = renderer_context["view"], renderer_context["request"]
        spec: ProtoSpec = view.protobuf[request.method]
        body: bytes = messages.to_message(data, spec.response).SerializeToString()
        return body


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that a protobuf request without a say in ``Accept`` is answered in protobuf, and
    an unknown ``?format=`` is 406 (not acceptable) rather than 404 (the route exists)."""

    def filter_renderers(self, renderers: Iterable[BaseRenderer], format: str) -> list[BaseRenderer]:
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            raise NotAcceptable(f"no answer format {format!r} on this route")
        return matching

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> Any:
        renderers = list(renderers)
        if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE or ""):
            return super().select_renderer(request, renderers, format_suffix)
        if answers_in_protobuf(request):
            for renderer in renderers:
                if isinstance(renderer, ProtobufRenderer):
                    return renderer, PROTOBUF
        elif not accepted(request):
            for renderer in renderers:
                if isinstance(renderer, JSONRenderer):
                    return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
