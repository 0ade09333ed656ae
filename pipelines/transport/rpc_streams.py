"""The gRPC boundary of streaming methods: the twin of ``pipelines.transport.rpc.unary`` for server and
bidirectional streams.

``streaming`` wraps a servicer method that yields messages: the token is checked before anything is read or
sent, a ``ServiceError`` (before or between messages) ends the stream with its ``google.rpc.Status`` (with
``RetryInfo`` for RESOURCE_EXHAUSTED), anything else with INTERNAL, and ``tpfgo_requests_total`` /
``tpfgo_request_seconds`` are recorded once the stream ends. ``stream_handler`` registers the streaming methods
of a service (``pipelines.transport.rpc.generic_handler`` registers the unary ones) with lenient request
deserializers, so a malformed message reaches the servicer as ``pipelines.transport.rpc.Malformed`` and becomes
that message's own error. ``idle_limited`` bounds how long a client-streaming call may leave its server waiting
for the next message, ``unread_limited`` how long a server-streaming call's client may leave an answer untaken.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc
import structlog
from django.db import close_old_connections
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from pipelines.engine.stream_gauges import Ticket
from pipelines.engine.streaming import with_log_context
from pipelines.transport.rpc import _lenient, call_boundary

log = structlog.get_logger("pipelines.rpc")

S = TypeVar("S")
T = TypeVar("T")
_ASK = object()  # the reader's cue: read one more message
_STOP = object()  # the reader's cue: read no more
StreamMethod = Callable[[S, Any, grpc.ServicerContext], Iterator[Message]]


def streaming(route: str) -> Callable[[StreamMethod[S]], StreamMethod[S]]:
    """Decorate a streaming servicer method: the boundary described in the module docstring."""

    def decorate(method: StreamMethod[S]) -> StreamMethod[S]:
        @functools.wraps(method)
        def handler(self: S, request: object, context: grpc.ServicerContext) -> Iterator[Message]:
            try:
                with call_boundary(route, request, context):
                    yield from method(self, request, context)
            finally:
                # The framework's request-finished signal fired when the generator was created, not when it ended.
                close_old_connections()

        return handler

    return decorate


def released_with_call(ticket: Ticket, context: grpc.ServicerContext) -> Ticket:
    """``ticket``, released as soon as the call ends, however it ends: a cancelled server stream frees its admission
    slot at once, while its generator may still wait for its next poll (and releases it again, harmlessly, on its
    way out)."""
    if not context.add_callback(ticket.release):  # the call has already ended
        ticket.release()
    return ticket


def stream_handler(service: ServiceDescriptor, servicer: object) -> grpc.GenericRpcHandler:
    """The streaming methods of ``service`` served by ``servicer``."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        if not (method.client_streaming or method.server_streaming):
            continue
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        kwargs: dict[str, Any] = {
            "request_deserializer": _lenient(request_cls),
            "response_serializer": response_cls.SerializeToString,
        }
        fn = getattr(servicer, method.name)
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(fn, **kwargs)
        elif method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(fn, **kwargs)
        else:
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(fn, **kwargs)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


class StreamIdle(TimeoutError):
    """A client-streaming call's client sent no message for its idle limit: the stream is ended."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no message came for {seconds:g} s")
        self.seconds = seconds


def idle_limited(requests: Iterable[T], seconds: float) -> Iterator[T]:
    """``requests`` as they come, until the client leaves the server waiting ``seconds`` for the next one: then
    :class:`StreamIdle`. Unlimited when ``seconds`` is 0 or less.

    grpcio's request iterator blocks with no timeout, so a reader thread takes each message, one only when this
    iterator is asked for one (nothing is read ahead: demand still reaches the client), and the wait for it is
    bounded. Once the call ends, grpcio ends its iterator and the reader thread with it.
    """
    if seconds <= 0:
        yield from requests
        return
    asks: queue.SimpleQueue[object] = queue.SimpleQueue()
    taken: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    source = iter(requests)

    def read() -> None:
        while asks.get() is _ASK:
            try:
                taken.put(("message", next(source)))
            except StopIteration:
                taken.put(("end", None))
                return
            except BaseException as exc:  # noqa: BLE001  (re-raised where the message was asked for)
                taken.put(("error", exc))
                return

    threading.Thread(target=with_log_context(read), name="rpc-stream-read", daemon=True).start()
    try:
        while True:
            asks.put(_ASK)
            try:
                kind, value = taken.get(timeout=seconds)
            except queue.Empty:
                raise StreamIdle(seconds) from None
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        asks.put(_STOP)


def unread_limited(answers: Iterable[T], context: grpc.ServicerContext, seconds: float, *, route: str) -> Iterator[T]:
    """``answers`` as grpcio sends them, until the client leaves one untaken for ``seconds``: then the call is
    cancelled and ``rpc.answers_unread`` names ``route``. Unlimited when ``seconds`` is 0 or less. Every
    server-streaming method runs its answers through it (``IngestOrders``, ``WatchOrder``, ``Subscribe``).

    grpcio sends an answer with no timeout and asks for the next only once the client's HTTP/2 window took it, so
    a client that stops reading (and sets no deadline) would hold the call, its thread and its admission slot for
    as long as it keeps the connection. A watcher thread cancels the call instead, which ends grpcio's send; the
    call's callbacks (``released_with_call``) and this generator's closing free what it held.
    """
    if seconds <= 0:
        yield from answers
        return
    handed: list[float | None] = [None]  # when grpcio took the answer it is sending; None between sends
    done = threading.Event()

    def watch() -> None:
        while True:
            since = handed[0]
            if done.wait(seconds if since is None else max(since + seconds - time.monotonic(), 0)):
                return
            if since is not None and handed[0] == since:
                log.warning("rpc.answers_unread", route=route, seconds=seconds)
                context.cancel()
                return

    threading.Thread(target=with_log_context(watch), name="rpc-stream-unread", daemon=True).start()
    try:
        for answer in answers:
            handed[0] = time.monotonic()
            yield answer
            handed[0] = None
    finally:
        done.set()
