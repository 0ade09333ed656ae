"""``POST /api/v1/subscriptions/stream`` and ``…/ack``: follow one publication over HTTP
(``pipelines.transport.subscriptions``, ``pipelines.transport.subscription_follow``).

The stream answers NDJSON: one line per item (``{seq, position, publication, checkpointType, checkpointId, traceId,
createdAt, payload}``) or heartbeat (``{heartbeat: true, position}``), written only as fast as the client reads
(the server thread blocks on the socket). The first line comes at once (a heartbeat when there is nothing to send
yet), so the client knows it was admitted. Every refusal (token, unknown publication, contract mismatch, expired
position, subscriber cap, a subscriber name another live follow holds) comes before the first line, as the API's
JSON error envelope; a follow whose subscriber name was taken over after it started (it stalled past its lease)
ends with one last line ``{error: {code: ALREADY_EXISTS, message}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines.contracts.status import Detail, InvalidArgument
from pipelines.transport import input_limits, subscription_follow, subscriptions
from pipelines.transport.error_sink_views import FORMAT_REFUSALS, TokenFirstView
from pipelines.transport.http_streams import (
    NdjsonRenderer,
    TicketedLines,
    client_present,
    ndjson_response,
    still_authenticated,
    time_limited,
)
from pipelines.transport.subscriber_leases import SubscriberFollowed
from pipelines.transport.wire_errors import WireError
from pipelines.transport.wire_schema import StrictSerializer, Text


class SubscribeSerializer(StrictSerializer):
    """The body of ``…/stream`` (documents it; ``_fields`` and ``subscriptions.open_follow`` validate it)."""

    publication = Text(help_text="the publication's name with its .vN")
    subscriber = Text(required=False, help_text="a name: its acknowledgements are kept")
    start = serializers.CharField(required=False, help_text="a log position, 'acked', 'now' or 0 (default)")
    expect = serializers.JSONField(required=False, help_text="the contract expected, as contracts.lock.json")


class SubscriptionAckSerializer(StrictSerializer):
    """The body of ``…/ack`` (documents it; ``_fields`` and ``subscriptions.acknowledge`` validate it)."""

    publication = Text()
    subscriber = Text()
    position = serializers.IntegerField(min_value=0)


SUBSCRIBE = SubscribeSerializer
ACK = SubscriptionAckSerializer
ACKED = inline_serializer("SubscriptionAcked", {"position": serializers.IntegerField()})
REFUSALS = {
    400: OpenApiResponse(description="INVALID_ARGUMENT: a field is missing or malformed (nothing is stored)"),
    401: OpenApiResponse(description="UNAUTHENTICATED: missing or invalid token"),
    403: OpenApiResponse(description="PERMISSION_DENIED: the token may not subscribe"),
    404: OpenApiResponse(description="NOT_FOUND: no such publication"),
    **input_limits.BODY_REFUSALS,
    **FORMAT_REFUSALS,
}


def _fields(data: object, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidArgument("unknown fields", [Detail(name, "unknown field") for name in unknown])
    return data


class SubscriptionStreamView(TokenFirstView):
    """Follow one publication from a position: NDJSON items, heartbeats while idle, until the client leaves."""

    renderer_classes = [NdjsonRenderer, JSONRenderer]

    @extend_schema(
        operation_id="subscribe",
        tags=["subscriptions"],
        summary="Follow a publication's checkpoints from a log position (NDJSON stream)",
        request=SUBSCRIBE,
        responses={
            200: OpenApiResponse(OpenApiTypes.STR, description="NDJSON: items and heartbeats, in log order"),
            **REFUSALS,
            409: OpenApiResponse(
                description="ALREADY_EXISTS: another live follow holds this subscriber name (SUBSCRIBER_FOLLOWED; "
                "Retry-After: when its lease expires at the latest)"
            ),
            412: OpenApiResponse(description="FAILED_PRECONDITION: contract mismatch, or POSITION_EXPIRED"),
            429: OpenApiResponse(description="RESOURCE_EXHAUSTED: this process's subscribers are full (Retry-After)"),
        },
    )
    def post(self, request: Request) -> Any:
        data = _fields(request.data, {"publication", "subscriber", "start", "expect"})
        opened = subscriptions.open_follow(
            data.get("publication"),
            subscriber=data.get("subscriber"),
            start=data.get("start"),
            expect=data.get("expect"),
            admit=subscriptions.admit,
        )
        try:
            # A client that left is noticed at the next poll, not at the next failed write (a heartbeat later):
            # its slot and its subscriber name are free for its reconnect, as a cancelled gRPC call's are.
            active = client_present(request._request.META)
            # A client that stops reading (its window full) fails the blocked write after this long, which ends the
            # follow and frees its thread, slot and name, as a gRPC Subscribe's unread limit does.
            time_limited(request._request.META, float(getattr(settings, "TPFGO_STREAM_UNREAD_SECONDS", 60)))
            body = TicketedLines(_lines(opened, active, still_authenticated(request)), opened)
        except BaseException:
            opened.release()
            raise
        return ndjson_response(body)


def _lines(
    opened: subscriptions.Opened, active: Callable[[], bool], authenticated: Callable[[], None]
) -> Iterator[dict[str, Any]]:
    follow = subscription_follow.follow(
        opened.publication, opened.start, active=active, lease=opened.lease, authenticated=authenticated
    )
    try:
        for item in follow:
            yield item.wire()
    except (SubscriberFollowed, WireError) as ended:  # its lease taken over, or its token revoked: say so, then end
        yield {"error": {"code": ended.code, "message": ended.message}}
    finally:
        follow.close()


class SubscriptionAckView(TokenFirstView):
    """Record that a named subscriber processed everything of a publication up to a position."""

    @extend_schema(
        operation_id="acknowledgeSubscription",
        tags=["subscriptions"],
        summary="Acknowledge a subscriber's position (resume later with start=acked)",
        request=ACK,
        responses={200: OpenApiResponse(ACKED, description="the subscriber's position now"), **REFUSALS},
    )
    def post(self, request: Request) -> Response:
        data = _fields(request.data, {"publication", "subscriber", "position"})
        position = subscriptions.acknowledge(data.get("subscriber"), data.get("publication"), data.get("position"))
        return Response({"position": position})
