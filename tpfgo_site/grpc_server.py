"""The gRPC server process (``manage.py grpcrunserver``): TPFGo's services plus gRPC's own conventions.

- ``grpc.health.v1.Health`` (grpcio-health-checking): SERVING while the database answers, else NOT_SERVING, for
  the whole server (``""``) and for each service; the same rule as ``/readyz`` (a broker outage is logged,
  ``grpc.not_ready``, and counted, but the server still serves: the synchronous chain runs without it).
- Server reflection (grpcio-reflection), so generic tools list and call every service, only with
  ``TPFGO_GRPC_REFLECTION`` and an ops token (``tpfgo_site.grpc_reflection``).
- A taken port is an error (gRPC's default ``SO_REUSEPORT`` would let a second server share it silently).
- With ``TPFGO_GRPC_METRICS_BIND`` (``host:port``) it serves the gauges of its own live streams (admission, buffers,
  in-flight work, subscription buffers) over HTTP for Prometheus: they live in this process's memory, which the
  node's ``/metrics`` cannot read (``pipelines.engine.metrics.own_registry``); its admission gauges from its start
  (``tpfgo_site.stream_gates``). With ``TPFGO_GRPC_METRICS_ALL`` (``bin/node grpc`` with a metrics folder of its
  own) the port serves that folder's samples too (its requests, step runs, process figures), which no web node's
  ``/metrics`` reads; without any folder (``PROMETHEUS_MULTIPROC_DIR`` unset) it serves its own process's samples,
  its health's readiness checks among them (``tpfgo_readiness_checks_total``, which ``TPFGoBrokerUnreachable``
  reads), which are in its memory only.
- Its metrics port serves ``tpfgo_grpc_serving``: 1 while its health answers SERVING, 0 while NOT_SERVING (not
  ready, or stopping), which the alert ``TPFGoGrpcNotServing`` reads (a server that runs but serves nothing).
- SIGTERM or SIGINT stops it gracefully (``stop``: health NOT_SERVING, no new call, the unary calls in flight get
  up to ``STOP_GRACE`` seconds to finish); the streams still open then (``WatchOrder``, ``Subscribe``, a health
  ``Watch``: they would run to the grace's end) are ended at once, their clients get UNAVAILABLE. A second signal
  stops it at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import grpc
import structlog
from django.conf import settings
from django.db import close_old_connections
from django_grpc_framework.settings import grpc_settings
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import CollectorRegistry

from pipelines import OPEN_CALLS, build_server, metrics, server_stopping
from tpfgo_site import grpc_reflection
from tpfgo_site.checks import grpc_in_clear
from tpfgo_site.health import readiness, serves
from tpfgo_site.stream_gates import open_gates

logger = structlog.get_logger("tpfgo_site.grpc_server")

STOP_GRACE = 5.0  # seconds in-flight calls get on a stop (bin/run's own grace is longer)
HEALTH_POLL = 2.0  # seconds between readiness checks pushed to Watch streams; Check always checks afresh
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
metrics.describe("tpfgo_grpc_serving", "gauge", "1 while this gRPC server's health answers SERVING, else 0.")


class PortUnavailable(Exception):
    """The address cannot be bound (taken by another process, or not assignable)."""


class MetricsUnavailable(Exception):
    """``TPFGO_GRPC_METRICS_BIND`` is malformed or cannot be listened on."""


class ReadinessHealth(health.HealthServicer):
    """The standard health service whose status is this process's readiness (``tpfgo_site.health.serves``)."""

    def __init__(self, services: list[str]) -> None:
        super().__init__()
        self.services = ["", *services]
        self.stopping = False
        self.serving = False

    def refresh(self) -> dict[str, str]:
        # Untraced: polled every HEALTH_POLL seconds outside any call, each poll's query was a trace of its own
        # (about 30 a minute per server at the collector, the whole day long).
        with suppress_instrumentation():
            checks = readiness()
            close_old_connections()
        ready = not self.stopping and serves(checks)
        for name in self.services:
            self.set(name, SERVING if ready else NOT_SERVING)
        self.serving = ready
        return checks

    def samples(self) -> list[metrics.Sample]:
        """``tpfgo_grpc_serving``: what its health answers for the whole server, read at each scrape."""
        return [("tpfgo_grpc_serving", {}, 1.0 if self.serving and not self.stopping else 0.0)]

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> object:
        if not self.stopping:
            self.refresh()
        return super().Check(request, context)


def build(address: str, max_workers: int) -> tuple[grpc.Server, ReadinessHealth]:
    """A started server on ``address`` with every service, health and, with ``TPFGO_GRPC_REFLECTION``, reflection;
    ``PortUnavailable`` if taken."""
    from tpfgo_site.grpc_handlers import service_names

    services = service_names()
    checker = ReadinessHealth(services)

    def handlers(server: grpc.Server) -> None:
        grpc_settings.ROOT_HANDLERS_HOOK(server)
        health_pb2_grpc.add_HealthServicer_to_server(checker, server)
        if settings.TPFGO_GRPC_REFLECTION:
            grpc_reflection.enable([*services, health.SERVICE_NAME], server)

    # pipelines.transport.rpc.build_server: the message size limit, tracing and no shared port, like every server here.
    try:
        server, port = build_server(
            address, handlers, max_workers=max_workers, interceptors=grpc_settings.SERVER_INTERCEPTORS
        )
    except RuntimeError as exc:  # grpcio: "Failed to bind to address ..."
        raise PortUnavailable(f"cannot listen on {address}: the address is in use or not assignable") from exc
    if port == 0:
        raise PortUnavailable(f"cannot listen on {address}: the address is in use or not assignable")
    checker.refresh()
    server.start()
    return server, checker


def metrics_registry() -> CollectorRegistry:
    """What its metrics port serves: its streams' gauges, and its samples (its requests, the step runs behind them,
    its health's readiness checks) wherever no ``/metrics`` reads them: a folder of its own
    (``TPFGO_GRPC_METRICS_ALL``), or none (no ``PROMETHEUS_MULTIPROC_DIR``: they are in its memory only)."""
    return metrics.own_registry(folder=settings.TPFGO_GRPC_METRICS_ALL or metrics.multiprocess_dir() is None)


def serve(address: str, max_workers: int, metrics_bind: str = "") -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully (a second signal: at once); with ``metrics_bind``, the
    process's own stream gauges on that address first (a bad one refuses to start, before the gRPC port)."""
    if metrics_bind:
        try:
            listening = metrics.serve(metrics_bind, metrics_registry())
        except (ValueError, OSError) as exc:
            raise MetricsUnavailable(f"TPFGO_GRPC_METRICS_BIND={metrics_bind!r}: {exc}") from exc
        logger.info("grpc.metrics_port", address=listening)
    server, checker = build(address, max_workers)
    metrics.register_collector(checker.samples, own=True)
    open_gates()  # its streams' admission gauges are scraped from the start
    signalled = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signalled.is_set():
            server.stop(0)  # a second signal: cancel the calls still running
        signalled.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("grpc.server_started", address=address, services=checker.services[1:])
    for warning in grpc_in_clear(address):  # grpcrunserver runs no system checks: the address is known only here
        logger.warning("grpc.serving_in_clear", address=address, check=warning.id, hint=warning.hint)
    while not signalled.wait(HEALTH_POLL):
        checks = checker.refresh()
        if any(value != "ok" for value in checks.values()):
            logger.warning("grpc.not_ready", checks=checks)
    stop(server, checker, address)


def stop(server: grpc.Server, checker: ReadinessHealth, address: str) -> None:
    """Stop gracefully: health NOT_SERVING and no new call; the unary calls in flight finish (up to ``STOP_GRACE``
    seconds), then the streams still open are ended (``grpc.streams_ended``), their clients get UNAVAILABLE; then
    ``grpc.server_stopped``, after the access line of every call (``grpc.calls_unended``: some did not end within
    another ``STOP_GRACE``)."""
    checker.stopping = True
    server_stopping.set()  # the calls the stop ends are the stop's, not their clients' (access lines)
    checker.enter_graceful_shutdown()
    logger.info("grpc.server_stopping", address=address, grace_seconds=STOP_GRACE)
    stopped = server.stop(STOP_GRACE)  # grpcio ends every call still open once the grace is over
    # A stream lasts as long as its client wants: waiting for it would make every stop last the whole grace.
    OPEN_CALLS.wait_unary(STOP_GRACE)
    streams = OPEN_CALLS.streams()
    if streams:
        logger.info("grpc.streams_ended", address=address, streams=streams)
        server.stop(0)  # grpcio's "Cancelling all calls": UNAVAILABLE to each client
    stopped.wait()
    # grpcio is done with the calls, their threads not yet: a stream's thread writes its access line once it sees
    # its call ended (at its next poll), after which this line must come.
    if not OPEN_CALLS.wait_all(STOP_GRACE):
        logger.warning("grpc.calls_unended", address=address, calls=OPEN_CALLS.count())
    logger.info("grpc.server_stopped", address=address)
