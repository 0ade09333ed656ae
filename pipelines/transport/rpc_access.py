"""The gRPC server's access line: one ``grpc.access`` JSON line per call, the twin of gunicorn's ``http.access``.

``AccessLog`` is a server interceptor (``pipelines.transport.rpc.build_server`` puts it right after tracing), so
every call has its line, the project's services and grpcio's own (health, reflection) alike, and a method the
server does not know (``UNIMPLEMENTED``). The line is written when the call ends (a stream: when its last message
was sent, or when the client went away) and carries the method, the status the client got, the duration, the peer,
how many messages went each way, the call's ``request_id`` (the ``correlationId`` of its error answer and the
``request_id`` of its other lines: ``pipelines.transport.rpc.call_boundary`` takes it from here) and, when tracing
is on, its server span's ``trace_id`` and ``span_id``. A call the client cancelled, or whose deadline passed,
says ``CANCELLED`` or ``DEADLINE_EXCEEDED`` at ``info``, like any other answer: it is the client's doing, not an
error of the server.

The project's services count themselves in ``tpfgo_requests_total``/``tpfgo_request_seconds``
(``pipelines.transport.rpc.call_boundary``); the calls of grpcio's own services (health, reflection) are counted
here, when their access line is written, with their method as the ``route`` and the status their boundary would
give (a call the server's stop ended is ``CANCELLED`` there, as the project's streams count it). A method the
server does not know is counted under the route ``unmatched`` (as an HTTP request no route matched), never under
its name: a client could otherwise add a series with every name it sends; its access line names it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import structlog

from pipelines.transport import request_metrics

log = structlog.get_logger("pipelines.rpc.access")


@dataclass
class Call:
    """One call as its access line reports it."""

    method: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.perf_counter)
    received: int = 0
    sent: int = 0


# Set by the server process when it begins to stop (tpfgo_site/grpc_server.py): a call that ends unanswered from then
# on was cancelled by the stop (grpcio's "Cancelling all calls" once the grace is over), and its client got UNAVAILABLE.
server_stopping = threading.Event()
_CALL: ContextVar[Call | None] = ContextVar("tpfgo_rpc_call", default=None)


class OpenCalls:
    """The calls whose handler began and whose access line is not written yet, unary ones and streams apart (a
    stream: a call that answers with a stream): what a stopping server waits for, and what it ends."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = {False: 0, True: 0}  # streaming -> how many

    def begin(self, streaming: bool) -> None:
        with self._changed:
            self._open[streaming] += 1

    def end(self, streaming: bool) -> None:
        with self._changed:
            self._open[streaming] -= 1
            self._changed.notify_all()

    def streams(self) -> int:
        with self._changed:
            return self._open[True]

    def count(self) -> int:
        with self._changed:
            return self._open[False] + self._open[True]

    def wait_all(self, timeout: float) -> bool:
        """Whether every call, streams included, ended (its access line written) within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open[False] + self._open[True] == 0, timeout)

    def wait_unary(self, timeout: float) -> bool:
        """Whether every unary call ended within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open[False] == 0, timeout)


OPEN_CALLS = OpenCalls()


def call_id() -> str:
    """The running call's ``request_id`` (its access line's), or a new one outside a logged call."""
    call = _CALL.get()
    return call.request_id if call is not None else str(uuid.uuid4())


def metadata(pairs: Iterable[tuple[str, str | bytes]] | None, name: str) -> str | None:
    """The value of the metadata entry ``name`` (lower case), as text; None without one."""
    for key, value in pairs or ():
        if key.lower() == name:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def gone(context: grpc.ServicerContext) -> str | None:
    """``CANCELLED`` (the client went away, or the server's stop ended the call) or ``DEADLINE_EXCEEDED`` when the
    call ended before the server answered it, else None. Asked before grpcio sends the call's status, so an
    inactive call is one of those."""
    active = getattr(context, "is_active", None)  # django-grpc-framework's test context has none
    if active is None or active():
        return None
    return "DEADLINE_EXCEEDED" if context.time_remaining() <= 0 else "CANCELLED"


def status(context: grpc.ServicerContext, error: BaseException | None) -> str:
    """The status the client gets: the code the call set (an abort), else the call's end by the client or its
    deadline, else grpcio's ``UNKNOWN`` for an exception that escaped (GeneratorExit: grpcio closed a stream)."""
    answered = counted_status(context, error)
    if answered == "CANCELLED" and server_stopping.is_set():
        return "UNAVAILABLE"  # the stop's: its client got UNAVAILABLE ("Cancelling all calls")
    return answered


def counted_status(context: grpc.ServicerContext, error: BaseException | None) -> str:
    """The ``status`` label of the call in ``tpfgo_requests_total``: ``status`` but for a call the server's stop
    ended, which is ``CANCELLED`` there (as ``call_boundary`` counts one): a deploy is not an error of a route."""
    code = context.code()
    if code is not None and code is not grpc.StatusCode.OK:
        return str(code.name)
    ended = gone(context)
    if ended is not None:
        return ended
    return "UNKNOWN" if error is not None and not isinstance(error, GeneratorExit) else "OK"


def write(
    call: Call, status: str, context: grpc.ServicerContext | None = None, invocation: Iterable[Any] | None = None
) -> None:
    """The call's access line; ``invocation``: its metadata, for a call with no context (a method not known)."""
    if context is not None:
        invocation = context.invocation_metadata()
    log.info(
        "grpc.access",
        request_id=call.request_id,
        method=call.method,
        status=status,
        duration_ms=round((time.perf_counter() - call.started) * 1000, 3),
        peer=context.peer() if context is not None else None,
        user_agent=metadata(invocation, "user-agent"),
        messages_in=call.received,
        messages_out=call.sent,
    )


class _Counted:
    """A client stream's messages, counted as the servicer takes them (from whichever thread reads them)."""

    def __init__(self, requests: Iterator[object], call: Call) -> None:
        self.requests, self.call = requests, call

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> object:
        request = next(self.requests)
        self.call.received += 1
        return request


class AccessLog(grpc.ServerInterceptor):  # type: ignore[misc]  # grpcio ships no types
    """Writes each call's ``grpc.access`` line (module docstring)."""

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        method = details.method
        if handler is None:  # grpcio answers UNIMPLEMENTED, with no handler to wrap
            call = Call(method)
            write(call, "UNIMPLEMENTED", invocation=details.invocation_metadata)
            request_metrics.record(
                request_metrics.UNMATCHED, "grpc", "UNIMPLEMENTED", time.perf_counter() - call.started
            )
            return None
        # The project's handlers parse with its lenient deserializers and count themselves (call_boundary).
        counted_here = not getattr(handler.request_deserializer, "lenient", False)
        streaming_in, streaming_out = handler.request_streaming, handler.response_streaming
        kind = ("stream" if streaming_in else "unary") + ("_stream" if streaming_out else "_unary")
        inner = getattr(handler, kind)

        def begin(request: object) -> tuple[Call, object]:
            OPEN_CALLS.begin(streaming_out)
            call = Call(method)
            _CALL.set(call)
            structlog.contextvars.bind_contextvars(request_id=call.request_id)
            if streaming_in:
                return call, _Counted(iter(cast(Iterable[object], request)), call)
            call.received = 1
            return call, request

        def end(call: Call, context: grpc.ServicerContext, error: BaseException | None) -> None:
            try:
                write(call, status(context, error), context)
                if counted_here:
                    seconds = time.perf_counter() - call.started
                    request_metrics.record(method, "grpc", counted_status(context, error), seconds)
            finally:
                OPEN_CALLS.end(streaming_out)
                _CALL.set(None)
                structlog.contextvars.unbind_contextvars("request_id")

        def answer(request: object, context: grpc.ServicerContext) -> Any:
            call, request = begin(request)
            try:
                response = inner(request, context)
            except BaseException as exc:
                end(call, context, exc)
                raise
            call.sent = 1
            end(call, context, None)
            return response

        def answers(request: object, context: grpc.ServicerContext) -> Iterator[Any]:
            call, request = begin(request)
            error: BaseException | None = None
            try:
                for response in inner(request, context):
                    call.sent += 1
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                end(call, context, error)

        make = getattr(grpc, f"{kind}_rpc_method_handler")
        return make(
            answers if streaming_out else answer,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


ACCESS_LOG = AccessLog()
