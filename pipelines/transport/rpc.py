"""The gRPC boundary every servicer shares: token first, request ids, metrics, and errors as ``google.rpc.Status``.

``unary`` wraps one servicer method: it binds a correlation id (the gRPC twin of django-structlog's request id),
checks the ``authorization: Token <key>`` metadata before anything else, then asks the project's policy
(``TPFGO_RPC_POLICY``: may this caller call this method with this message?), refuses a request whose bytes did not
parse with INVALID_ARGUMENT (``generic_handler`` registers lenient deserializers, so malformed bytes reach the
servicer instead of failing as INTERNAL inside grpcio), renders a ``ServiceError`` through the status table, and
records ``tpfgo_requests_total``/``tpfgo_request_seconds`` with ``transport="grpc"``.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc
import structlog
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.settings import api_settings

from pipelines.contracts.status import Detail, ServiceError
from pipelines.engine import tracing
from pipelines.failures import scrub
from pipelines.transport import outage, request_metrics
from pipelines.transport.input_limits import body_too_large, max_body_bytes
from pipelines.transport.rpc_access import ACCESS_LOG, call_id, gone, metadata
from pipelines.transport.wire_errors import WireError, grpc_status

log = structlog.get_logger("pipelines.rpc")

S = TypeVar("S")
Method = Callable[[S, Any, grpc.ServicerContext], Message]


class Malformed:
    """Request bytes that are not a valid message: refused by the servicer, after the token check."""

    def __init__(self, full_name: str) -> None:
        self.full_name = full_name


class Oversized(Malformed):
    """A request message over ``TPFGO_API_MAX_BODY_BYTES`` (and within the transport's cap, ``transport_cap``):
    refused after the token check, with the same RESOURCE_EXHAUSTED Status as an HTTP body over the limit."""

    def __init__(self, full_name: str, size: int) -> None:
        super().__init__(full_name)
        self.size = size


def transport_cap() -> int:
    """The largest message grpcio takes in at all: 4 × ``TPFGO_API_MAX_BODY_BYTES`` (4 MiB by default, grpcio's
    own default). A message between the limit and the cap reaches the deserializer and is refused with the
    project's Status; grpcio's core refuses a larger one itself, in its own words, before any Python code runs."""
    return 4 * max_body_bytes()


def _lenient(cls: type[Message]) -> Callable[[bytes], Message | Malformed]:
    def deserialize(raw: bytes) -> Message | Malformed:
        if len(raw) > max_body_bytes():
            return Oversized(cls.DESCRIPTOR.full_name, len(raw))
        try:
            return cls.FromString(raw)
        except (DecodeError, ValueError, RuntimeError):
            return Malformed(cls.DESCRIPTOR.full_name)

    deserialize.lenient = True  # type: ignore[attr-defined]  # MalformedRequests leaves it as it is
    return deserialize


class MalformedRequests(grpc.ServerInterceptor):  # type: ignore[misc]  # grpcio ships no types
    """Request bytes that do not parse answer INVALID_ARGUMENT on the services grpcio's own packages serve (health,
    reflection) too, where grpcio would answer INTERNAL ``Exception deserializing request!``.

    The project's services parse leniently themselves (``generic_handler``: the token first, then the message); here
    any other handler's deserializer is made lenient, and its behaviour refuses what did not parse.
    """

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        deserialize = handler and handler.request_deserializer
        if deserialize is None or getattr(deserialize, "lenient", False):  # no handler, no parser, or the project's
            return handler
        method = details.method
        bad = Malformed(method)

        def lenient(raw: bytes) -> object:
            if len(raw) > max_body_bytes():
                return Oversized(method, len(raw))
            try:
                return deserialize(raw)
            except Exception:  # noqa: BLE001  (whatever the generated parser raises: the bytes are not a message)
                return bad

        def refuse(context: grpc.ServicerContext, request: object) -> None:
            if isinstance(request, Oversized):
                context.abort_with_status(grpc_status(body_too_large(request.size), call_id()))
            error = WireError(
                "INVALID_ARGUMENT",
                f"the request is not a valid message for {method}",
                [Detail("body", "malformed protobuf")],
            )
            context.abort_with_status(grpc_status(error, call_id()))

        def checked(requests: Iterator[object], context: grpc.ServicerContext) -> Iterator[object]:
            for request in requests:
                if isinstance(request, Malformed):
                    refuse(context, request)
                yield request

        kind = ("stream" if handler.request_streaming else "unary") + (
            "_stream" if handler.response_streaming else "_unary"
        )
        inner = getattr(handler, kind)

        def behaviour(request: Any, context: grpc.ServicerContext) -> Any:
            if handler.request_streaming:
                return inner(checked(request, context), context)
            if isinstance(request, Malformed):
                refuse(context, request)
            return inner(request, context)

        make = getattr(grpc, f"{kind}_rpc_method_handler")
        return make(behaviour, request_deserializer=lenient, response_serializer=handler.response_serializer)


def generic_handler(service: ServiceDescriptor, servicer: object) -> grpc.GenericRpcHandler:
    """The unary methods of ``service`` served by ``servicer``, with lenient request deserializers."""
    handlers = {}
    for method in service.methods:
        if method.client_streaming or method.server_streaming:
            continue  # served by their own handler (pipelines.transport.rpc_streams.stream_handler)
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=_lenient(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def metadata_value(context: grpc.ServicerContext, name: str) -> str | None:
    return metadata(context.invocation_metadata(), name)


class _Headers:
    """What DRF's token authentication reads of a request: its ``Authorization`` header, here the metadata's."""

    def __init__(self, authorization: str) -> None:
        self.headers = {"authorization": authorization}
        self.META = {"HTTP_AUTHORIZATION": authorization}


def require_token(context: grpc.ServicerContext) -> Any:
    """The user of the ``authorization: Token <key>`` metadata, else UNAUTHENTICATED: DRF's token authentication
    reads the metadata as it reads the HTTP header, so a malformed one is refused in the same words on every
    transport (``Token`` alone, ``Token a b``)."""
    classes: Any = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    authentication = classes[0]()
    try:
        found = authentication.authenticate(_Headers(metadata_value(context, "authorization") or ""))
    except AuthenticationFailed as exc:
        raise WireError("UNAUTHENTICATED", str(exc.detail))
    if found is None:  # no "Token" credentials at all
        raise WireError("UNAUTHENTICATED", str(NotAuthenticated.default_detail))
    return found[0]


def authorize(route: str, request: object, context: grpc.ServicerContext) -> None:
    """The token, then the project's policy (``TPFGO_RPC_POLICY``), which raises a ``ServiceError`` to refuse."""
    user = require_token(context)
    policy = getattr(settings, "TPFGO_RPC_POLICY", "")
    if policy:
        import_string(policy)(user, route, request)


@contextmanager
def call_boundary(route: str, request: object, context: grpc.ServicerContext) -> Iterator[None]:
    """The boundary every servicer call runs in (unary and streaming alike).

    The token and the policy are checked first, a malformed request becomes INVALID_ARGUMENT, a ``ServiceError``
    ends the call with its ``google.rpc.Status``, a database that cannot be reached with UNAVAILABLE and
    ``RetryInfo`` (``pipelines.transport.outage``), anything else with INTERNAL (no traceback on the wire), and the
    request metrics are recorded when the call ends. Its correlation id is the call's access line's ``request_id``
    (``pipelines.transport.rpc_access``).
    """
    correlation = call_id()
    structlog.contextvars.bind_contextvars(request_id=correlation)
    started, status = time.perf_counter(), "OK"
    try:
        authorize(route, request, context)
        if isinstance(request, Oversized):
            raise body_too_large(request.size)
        if isinstance(request, Malformed):
            raise WireError(
                "INVALID_ARGUMENT",
                f"the request is not a valid {request.full_name} message",
                [Detail("body", "malformed protobuf")],
            )
        yield
    except ServiceError as exc:
        status = exc.code
        context.abort_with_status(grpc_status(exc, correlation))
        raise  # abort_with_status raises; this line is never reached
    except Exception as exc:
        ended = gone(context) if isinstance(exc, grpc.RpcError) else None
        if ended is not None:
            # grpcio's request iterator: the client cancelled (or its deadline passed) while the server read its
            # stream. Nothing is left to answer, and no error of the server's: grpcio knows the error, logs nothing.
            status = ended
            raise
        if outage.is_outage(exc):
            log.warning("rpc.database_unavailable", route=route, error=f"{type(exc).__name__}: {exc}")
            error = outage.unavailable()
        else:
            log.error("rpc.internal_error", route=route, exception=_scrubbed_traceback(exc, request))
            error = WireError("INTERNAL", "internal error; quote the correlationId when reporting it")
        status = error.code
        context.abort_with_status(grpc_status(error, correlation))
        raise
    finally:
        if status == "OK":  # a stream the client ended (its servicer saw the call inactive, or grpcio closed it)
            status = gone(context) or status
        request_metrics.record(route, "grpc", status, time.perf_counter() - started)
        structlog.contextvars.unbind_contextvars("request_id")


def _scrubbed_traceback(exc: BaseException, request: object) -> str:
    """``exc``'s traceback as the log prints one, with the secrets the request's own fields lead to replaced by
    what the registered scrubbers show instead (a call's unexpected error has no item: its message is the item)."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    fields = (
        json_format.MessageToDict(request, preserving_proto_field_name=True) if isinstance(request, Message) else {}
    )
    return scrub.for_item(fields, None)(text)


def unary(route: str) -> Callable[[Method[S]], Method[S]]:
    """Decorate a servicer method: ``call_boundary``, plus DEADLINE_EXCEEDED before anything is stored."""

    def decorate(method: Method[S]) -> Method[S]:
        @functools.wraps(method)
        def handler(self: S, request: object, context: grpc.ServicerContext) -> Message:
            with call_boundary(route, request, context):
                remaining = context.time_remaining()
                if remaining is not None and remaining <= 0:
                    raise WireError(
                        "DEADLINE_EXCEEDED", "the deadline passed before the call was handled; nothing stored"
                    )
                return method(self, request, context)

        return handler

    return decorate


def build_server(
    address: str,
    hook: Callable[[grpc.Server], None],
    *,
    max_workers: int = 10,
    initializer: Callable[[], None] | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] | None = None,
) -> tuple[grpc.Server, int]:
    """A gRPC server with the handlers that ``hook`` adds, bound to ``address`` (port 0: a free one), taking
    messages up to ``TPFGO_API_MAX_BODY_BYTES`` (up to ``transport_cap`` a larger one is refused with the project's
    Status); ``RuntimeError`` when the address is taken."""
    executor = futures.ThreadPoolExecutor(max_workers=max_workers, initializer=initializer)
    # grpcio's core refuses a message over its cap in its own words, before any handler: the body limit itself is
    # checked by the deserializers (_lenient), so that a message over it answers the project's Status.
    limit = transport_cap()
    # Tracing once, whether or not the caller's interceptors (GRPC_FRAMEWORK["SERVER_INTERCEPTORS"]) name it; the
    # access line inside its span (its trace ids) and around every other interceptor (their refusals are calls too).
    own = (tracing.GRPC_SERVER_TRACING, ACCESS_LOG)
    chain = [*own, *(i for i in interceptors or [] if i not in own)]
    chain.append(MalformedRequests())
    server = grpc.server(
        executor,
        interceptors=chain,
        # No SO_REUSEPORT (gRPC's default): a second server on a taken address fails instead of sharing it.
        options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
    )
    hook(server)
    credentials = server_credentials()
    # grpcio raises RuntimeError when it cannot bind
    port = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
    return server, port


def server_credentials() -> grpc.ServerCredentials | None:
    """TLS from ``TPFGO_GRPC_TLS_CERT_FILE`` and ``TPFGO_GRPC_TLS_KEY_FILE`` (PEM: the certificate chain and its
    private key), or None (in clear) when neither is set; ``ImproperlyConfigured`` when only one is, or a file
    cannot be read."""
    cert_file = str(getattr(settings, "TPFGO_GRPC_TLS_CERT_FILE", ""))
    key_file = str(getattr(settings, "TPFGO_GRPC_TLS_KEY_FILE", ""))
    if not cert_file and not key_file:
        return None
    if not (cert_file and key_file):
        raise ImproperlyConfigured("set both TPFGO_GRPC_TLS_CERT_FILE and TPFGO_GRPC_TLS_KEY_FILE, or neither")
    try:
        with open(key_file, "rb") as key, open(cert_file, "rb") as chain:
            pair = (key.read(), chain.read())
    except OSError as exc:
        raise ImproperlyConfigured(f"the gRPC server's TLS files cannot be read: {exc}") from exc
    return grpc.ssl_server_credentials([pair])
