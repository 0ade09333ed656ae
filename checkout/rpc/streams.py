"""The streaming methods of ``tpfgo.checkout.v1.OrderService``: ``IngestOrders`` and ``WatchOrder``.

The boundary (token first, errors as ``google.rpc.Status``, metrics) is ``pipelines.transport.rpc_streams.streaming``;
the work is ``checkout.ingest`` and ``checkout.watching``, the same code the NDJSON route runs. An ``IngestOrders``
client that sends nothing for ``TPFGO_INGEST_IDLE_SECONDS`` gets the answers of every message read, then
``DEADLINE_EXCEEDED``, and its slot is freed (the NDJSON route's idle limit); one that leaves an answer untaken for
as long has its call cancelled; a ``WatchOrder`` client that leaves an answer untaken for
``TPFGO_STREAM_UNREAD_SECONDS`` too. Both check the token again as they go (``IngestOrders`` before placing, at most
every ``TPFGO_INGEST_TOKEN_CHECK_SECONDS``; ``WatchOrder`` before each poll) and end ``UNAUTHENTICATED`` once it
was revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import grpc
import structlog
from django.conf import settings
from django_grpc_framework.services import Service

from checkout import ingest, messages, watching
from checkout.protos import orders_pb2
from checkout.rpc.services import ROUTE
from pipelines import (
    InvalidArgument,
    Malformed,
    Oversized,
    Ready,
    StreamIdle,
    WireError,
    idle_limited,
    released_with_call,
    require_token,
    streaming,
    unread_limited,
)

log = structlog.get_logger("checkout.rpc")


def lines(requests: Iterable[Any]) -> Iterator[ingest.Line | Ready[dict[str, Any]]]:
    """Each request as an ingest line; a malformed message or a key given twice differently is its own error."""
    for number, request in enumerate(requests, 1):
        if isinstance(request, Oversized):  # as NDJSON answers a line over the bound; the stream goes on
            yield ingest.too_long(f"message {number}")
            continue
        if isinstance(request, Malformed):
            message = f"message {number}: not a valid {request.full_name} message"
            yield Ready(ingest.error(None, "INVALID_ARGUMENT", message))
            continue
        outer = request.idempotency_key if request.HasField("idempotency_key") else None
        if not request.HasField("order"):
            yield ingest.no_order(outer, f"message {number}")
            continue
        order, inner = messages.create_command(request.order)
        try:
            key = messages.pick_key(inner, outer, header="idempotency_key", field="order.idempotency_key")
        except InvalidArgument as exc:
            yield Ready(ingest.error(outer, exc.code, f"message {number}: {exc.message}"))
            continue
        name = messages.key_name(inner, outer, field="order.idempotency_key", header="idempotency_key")
        yield ingest.Line(number, key, order, name)


class OrderStreams(Service):
    @streaming(ROUTE + "IngestOrders")
    def IngestOrders(self, requests: Any, context: grpc.ServicerContext) -> Iterator[orders_pb2.IngestOrdersResponse]:
        ticket = released_with_call(ingest.admit(), context)
        idle = float(settings.TPFGO_INGEST_IDLE_SECONDS)
        answers = ingest.answers(
            lines(idle_limited(requests, idle)),
            lambda: require_token(context),  # revoked while it streams: UNAUTHENTICATED, nothing placed after
            ended="The stream is ended; the messages answered before are done, the others were not placed.",
        )
        try:
            for answer in unread_limited(answers, context, idle, route=ROUTE + "IngestOrders"):
                yield messages.to_message(answer, orders_pb2.IngestOrdersResponse)
        except StreamIdle as idle:  # every message read before it was answered above
            log.warning("ingest.stream_idle", seconds=idle.seconds)
            message = f"{idle}: the stream is ended; the messages answered before are done"
            raise WireError("DEADLINE_EXCEEDED", message) from idle
        finally:
            answers.close()
            ticket.release()

    @streaming(ROUTE + "WatchOrder")
    def WatchOrder(
        self, request: orders_pb2.WatchOrderRequest, context: grpc.ServicerContext
    ) -> Iterator[orders_pb2.OrderCheckpoint]:
        ticket = released_with_call(watching.admit(), context)  # a cancelled watch frees its slot now
        try:
            entries = watching.watch_order(
                request.order_id, active=context.is_active, authenticated=lambda: require_token(context)
            )
            unread = float(settings.TPFGO_STREAM_UNREAD_SECONDS)
            for entry in unread_limited(entries, context, unread, route=ROUTE + "WatchOrder"):
                yield messages.to_message(entry, orders_pb2.OrderCheckpoint)
        finally:
            ticket.release()
