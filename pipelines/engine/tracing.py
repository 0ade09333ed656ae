"""OpenTelemetry tracing: off unless the standard ``OTEL_*`` variables turn it on; one trace per TPFGo trace.

On when ``OTEL_SDK_DISABLED`` is not true and ``OTEL_TRACES_EXPORTER`` names exporters (``otlp``, ``console``, or
both as a comma list) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (then
``otlp``, over HTTP/protobuf); off when they ask for anything else (``pipelines.engine.trace_export``). The SDK reads
the rest of the standard variables itself (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``, ...).

Ids are derived, so a trace never depends on which process ran what:

- A request without a ``traceparent`` whose trace is known before it runs (a domain registers a resolver that
  names it; checkout's knows ``POST /api/v1/orders`` with an ``Idempotency-Key``, ``/api/v1/orders/<id>/...``,
  gRPC ``idempotency-key`` metadata) starts its OpenTelemetry trace with that trace's id: TPFGo's trace id (a
  UUID, 128 bits) is the OpenTelemetry trace id. An incoming ``traceparent`` wins; TPFGo's trace id is then
  the span attribute ``tpfgo.trace_id``.
- Every step runs in a span (attributes ``tpfgo.pipeline``, ``tpfgo.step``, ``tpfgo.checkpoint_id``,
  ``tpfgo.attempt``, ``tpfgo.outcome``, ``tpfgo.trace_id``) whose span id is derived from (checkpoint id,
  attempt). It is the child of the current span when that span is in the item's trace or continues an incoming
  ``traceparent``; otherwise (a parked retry on the worker, a sweep, a remediation from the console) it starts
  in the item's derived trace and links the current span. A retried or replayed step is never orphaned.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pipelines.contracts.errors import error_code
from pipelines.engine import trace_export

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

log = structlog.get_logger("pipelines.tracing")
_DERIVED = otel_context.create_key("tpfgo-derived-trace-id")
_NEXT_SPAN = otel_context.create_key("tpfgo-next-span-id")

Resolver = Callable[[str, str, Callable[[str], str | None]], uuid.UUID | None]
_resolvers: list[Resolver] = []
_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for traces (``trace_export.exporter_names``)."""
    return bool(trace_export.exporter_names(environ))


def enabled() -> bool:
    return _tracer is not None


# -- ids -------------------------------------------------------------------------------------------------------
class DerivedIds(IdGenerator):
    """Random ids, except the trace id of a request whose order is known and the span id of a step."""

    def generate_trace_id(self) -> int:
        derived = otel_context.get_value(_DERIVED)
        return derived if isinstance(derived, int) else random.getrandbits(128) or 1

    def generate_span_id(self) -> int:
        forced = otel_context.get_value(_NEXT_SPAN)
        return forced if isinstance(forced, int) else random.getrandbits(64) or 1


def trace_id_of(tpfgo_trace_id: uuid.UUID) -> int:
    return tpfgo_trace_id.int or 1


def step_span_id(checkpoint_id: uuid.UUID, attempt: int) -> int:
    digest = hashlib.blake2b(checkpoint_id.bytes + attempt.to_bytes(4, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


# -- propagation: the item's trace id when no traceparent came in ------------------------------------------------
def register_resolver(resolver: Resolver) -> None:
    """``resolver(method, path, header)``: the TPFGo trace id a request belongs to, if known before it runs."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


class DerivedTracePropagator(TextMapPropagator):
    """After W3C trace context: without a valid incoming span, mark the item's trace id for the server span."""

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        ctx = context if context is not None else otel_context.get_current()
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
        method, path = _request_line(carrier)

        def header(name: str) -> str | None:
            values = getter.get(carrier, name)
            return values[0] if values else None

        for resolver in _resolvers:
            found = resolver(method, path, header)
            if found is not None:
                return otel_context.set_value(_DERIVED, trace_id_of(found), ctx)
        return ctx

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        return None  # the W3C propagator carries the ids onward

    @property
    def fields(self) -> set[str]:
        return set()


def _request_line(carrier: object) -> tuple[str, str]:
    """WSGI: the environ's method and path; gRPC: the carrier has none (resolvers read metadata)."""
    if isinstance(carrier, Mapping) and "PATH_INFO" in carrier:
        return str(carrier.get("REQUEST_METHOD", "")), str(carrier["PATH_INFO"])
    return "", ""


# -- step spans --------------------------------------------------------------------------------------------------
class StepSpan:
    """What the engine knows after a step ran: its outcome."""

    def __init__(self, span: trace.Span | None) -> None:
        self.span = span

    def outcome(self, status: str) -> None:
        if self.span is not None:
            self.span.set_attribute("tpfgo.outcome", status)
            if status == "failed":
                self.span.set_status(trace.StatusCode.ERROR)


_OFF = StepSpan(None)


@contextlib.contextmanager
def step_span(
    pipeline: str, step: str, checkpoint_id: uuid.UUID, attempt: int, tpfgo_trace_id: uuid.UUID
) -> Iterator[StepSpan]:
    if _tracer is None:
        yield _OFF
        return
    order_trace = trace_id_of(tpfgo_trace_id)
    current = trace.get_current_span()
    here = current.get_span_context()
    parent_ctx: otel_context.Context | None = None
    links: list[Link] = []
    if not (here.is_valid and (here.trace_id == order_trace or _continues_incoming(current))):
        root = SpanContext(order_trace, step_span_id(tpfgo_trace_id, 0), is_remote=True, trace_flags=TraceFlags(1))
        parent_ctx = trace.set_span_in_context(NonRecordingSpan(root))
        links = [Link(here)] if here.is_valid else []
    attributes: dict[str, str | int] = {
        "tpfgo.pipeline": pipeline,
        "tpfgo.step": step,
        "tpfgo.checkpoint_id": str(checkpoint_id),
        "tpfgo.attempt": attempt,
        "tpfgo.trace_id": str(tpfgo_trace_id),
    }
    token = otel_context.attach(otel_context.set_value(_NEXT_SPAN, step_span_id(checkpoint_id, attempt)))
    try:
        span = _tracer.start_span(f"{pipeline}.{step}", context=parent_ctx, attributes=attributes, links=links)
    finally:
        otel_context.detach(token)
    # An exception's text may quote what the step handed a dependency (a payment token): the span names its class
    # and code only; its scrubbed text is in the error-sink entry (``pipelines.failures.scrub``).
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield StepSpan(span)
        except BaseException as exc:
            cause = exc.__cause__ or exc
            span.add_event("exception", {"exception.type": _qualified(cause), "tpfgo.error_code": error_code(cause)})
            span.set_status(trace.StatusCode.ERROR, _qualified(cause))
            raise


def _qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def _continues_incoming(span: trace.Span) -> bool:
    """The span is a request's (REST, gRPC) that continues a ``traceparent`` that came in. A Celery task's span has a
    remote parent too (its producer, in whatever trace sent it: a sweep, beat), which is no caller's trace."""
    parent = getattr(span, "parent", None)
    return bool(parent is not None and parent.is_remote and getattr(span, "kind", None) is SpanKind.SERVER)


# -- what leaves the process: an exception's class, never its text --------------------------------------------------
class ClassOnlyExceptions(SpanProcessor):
    """Hands ``exporting`` (the processor that exports) each ended span with its exceptions' text left out.

    The instrumentations record an exception that leaves a request or a task as an ``exception`` event with its
    message and stack trace, and as the span's status description: Django's (an error out of a view), Celery's (a
    failed task, the message as the description), the gRPC server's. The text may quote what the request or task
    handed a dependency (a payment token), and no scrubber can tell which item a request's span belongs to, so the
    exported span keeps the event's ``exception.type`` (and ``exception.escaped``) and gets that type as its status
    description; the scrubbed text is in the error-sink entry or the log line (``api.internal_error``). Django's
    ``request_hook``/``response_hook`` cannot do it (the exception is recorded after the response hook ran) and
    Celery's instrumentation takes no hook; the span itself, shared with every processor, is left as it is.
    """

    def __init__(self, exporting: SpanProcessor) -> None:
        self.exporting = exporting

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        self.exporting.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.exporting.on_end(class_only(span))

    def shutdown(self) -> None:
        self.exporting.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.exporting.force_flush(timeout_millis))


_TEXT = frozenset({EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE})


def class_only(span: ReadableSpan) -> ReadableSpan:
    """``span`` as exported: each ``exception`` event without its message and stack trace, and an error status
    described by the last exception's type (the span as it is when it recorded none)."""
    if not any(event.name == "exception" for event in span.events):
        return span
    events = [
        Event(event.name, {k: v for k, v in (event.attributes or {}).items() if k not in _TEXT}, event.timestamp)
        if event.name == "exception"
        else event
        for event in span.events
    ]
    status = span.status
    if status.status_code is StatusCode.ERROR:
        last = [e for e in events if e.name == "exception"][-1]
        status = Status(StatusCode.ERROR, str((last.attributes or {}).get(EXCEPTION_TYPE, "")) or None)
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# -- set-up ------------------------------------------------------------------------------------------------------
def use(provider: TracerProvider) -> None:
    """Trace into ``provider`` (``configure`` builds it from the environment; tests pass an in-memory one)."""
    global _tracer, _provider
    _tracer, _provider = provider.get_tracer("tpfgo.pipelines"), provider
    propagate.set_global_textmap(CompositePropagator([*_standard_propagators(), DerivedTracePropagator()]))


def stop() -> None:
    global _tracer, _provider
    _tracer = _provider = None
    propagate.set_global_textmap(CompositePropagator(_standard_propagators()))


def _standard_propagators() -> list[TextMapPropagator]:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return [TraceContextTextMapPropagator(), W3CBaggagePropagator()]


def configure(environ: Mapping[str, str] = os.environ) -> bool:
    """Once per process, at start-up: the provider, its exporter and the instrumentations, if asked for."""
    if _tracer is not None or not wanted(environ):
        return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = trace_export.exporters(environ)
    if not exporters:  # asked for what TPFGo cannot export: off, never sent elsewhere (pipelines.E051)
        log.warning("tracing.unsupported", asked=trace_export.unsupported(environ), check="pipelines.E051")
        return False
    provider = TracerProvider(resource=resource(), id_generator=DerivedIds())
    for exporter in exporters:
        provider.add_span_processor(ClassOnlyExceptions(BatchSpanProcessor(exporter)))
    trace.set_tracer_provider(provider)
    use(provider)
    instrument(provider)
    return True


def resource() -> Resource:
    """The SDK's resource from ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``; ``service.name`` is ``tpfgo``
    only when neither names one (attributes given to ``Resource.create`` would override the environment's)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    found = Resource.create()
    if str(found.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):  # the SDK's "none was given"
        return found.merge(Resource({SERVICE_NAME: "tpfgo"}))
    return found


def instrument(provider: TracerProvider) -> None:
    """Django (requests), Celery (tasks, with the context in their headers) and psycopg (queries)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)


class GrpcServerTracing(grpc.ServerInterceptor):  # type: ignore[misc]
    """The gRPC server's OpenTelemetry interceptor (``traceparent`` metadata continued), when tracing is on.

    One instance for every server (``GRPC_FRAMEWORK["SERVER_INTERCEPTORS"]``, ``rpc.build_server``), created
    before tracing is configured: it passes calls through while tracing is off.
    """

    def __init__(self) -> None:
        self._traced: tuple[TracerProvider, Any] | None = None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        provider = _provider
        if provider is None:
            return continuation(handler_call_details)
        if self._traced is None or self._traced[0] is not provider:
            from opentelemetry.instrumentation.grpc import server_interceptor

            self._traced = (provider, server_interceptor(tracer_provider=provider))
        return self._traced[1].intercept_service(continuation, handler_call_details)


GRPC_SERVER_TRACING = GrpcServerTracing()


def log_ids(_logger: object, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's ``trace_id`` and ``span_id`` (TPFGo's own as ``tpfgo_trace_id``)."""
    if _tracer is None:
        return event
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        if "trace_id" in event:
            event["tpfgo_trace_id"] = event["trace_id"]
        event["trace_id"] = format(span.trace_id, "032x")
        event["span_id"] = format(span.span_id, "016x")
    return event
