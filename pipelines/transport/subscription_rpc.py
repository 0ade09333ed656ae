"""``tpfgo.ops.v1.SubscriptionService``: the gRPC twin of ``POST /api/v1/subscriptions/stream`` and ``…/ack``.

The boundaries (token first, errors as ``google.rpc.Status``, metrics) are ``pipelines.transport.rpc.unary`` and
``pipelines.transport.rpc_streams.streaming``;
the rules are ``pipelines.transport.subscriptions``'s and ``subscription_follow``'s, the same as the HTTP routes'.
A server-streaming call is only read as fast as the client reads: grpcio asks the generator for the next item once
the previous one fit in the HTTP/2 flow-control window; a client that leaves an item untaken for
``TPFGO_STREAM_UNREAD_SECONDS`` has its call cancelled (``unread_limited``), which frees its thread and its slot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
from django.conf import settings
from django_grpc_framework.services import Service

from pipelines.protos import subscriptions_pb2
from pipelines.transport import subscription_follow, subscriptions
from pipelines.transport.rpc import require_token, unary
from pipelines.transport.rpc_streams import released_with_call, streaming, unread_limited

SERVICE = subscriptions_pb2.DESCRIPTOR.services_by_name["SubscriptionService"]
ROUTE = f"/{SERVICE.full_name}/"


def expected(request: subscriptions_pb2.SubscribeRequest) -> dict[str, Any] | None:
    """The request's expected contract in the lock's shape, or None when it names none."""
    if not request.HasField("expect"):
        return None
    expect = request.expect
    fields = [{"number": f.number, "name": f.name, "type": f.type, "required": f.required} for f in expect.fields]
    return {"contract": expect.contract, "version": expect.version, "fields": fields}


def message(item: subscription_follow.Item | subscription_follow.Heartbeat) -> subscriptions_pb2.SubscriptionItem:
    if isinstance(item, subscription_follow.Heartbeat):
        return subscriptions_pb2.SubscriptionItem(heartbeat=True, position=item.position)
    return subscriptions_pb2.SubscriptionItem(
        seq=item.seq,
        position=item.position,
        publication=item.publication,
        checkpoint_type=item.checkpoint_type,
        checkpoint_id=str(item.checkpoint_id),
        trace_id=str(item.trace_id),
        created_at=item.created_at,
        payload_json=json.dumps(dict(item.payload), separators=(",", ":")),
    )


class SubscriptionService(Service):
    @streaming(ROUTE + "Subscribe")
    def Subscribe(
        self, request: subscriptions_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[subscriptions_pb2.SubscriptionItem]:
        opened = subscriptions.open_follow(
            request.publication,
            subscriber=request.subscriber,
            start=request.start,
            expect=expected(request),
            admit=subscriptions.admit,
        )
        # A cancelled call frees its slot now, its subscriber name at its next poll (the lease is released in this
        # thread, which has its database connection).
        released_with_call(opened.ticket, context)
        follow = subscription_follow.follow(
            opened.publication,
            opened.start,
            active=context.is_active,
            lease=opened.lease,
            authenticated=lambda: require_token(context),  # revoked while it streams: UNAUTHENTICATED
        )
        unread = float(getattr(settings, "TPFGO_STREAM_UNREAD_SECONDS", 60))
        try:
            for item in unread_limited(follow, context, unread, route=ROUTE + "Subscribe"):
                yield message(item)
        finally:
            follow.close()
            opened.release()

    @unary(ROUTE + "Acknowledge")
    def Acknowledge(self, request: subscriptions_pb2.AcknowledgeRequest, context: grpc.ServicerContext) -> Any:
        position = subscriptions.acknowledge(request.subscriber, request.publication, request.position)
        return subscriptions_pb2.AcknowledgeResponse(position=position)
