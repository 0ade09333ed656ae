"""A real ``make run`` on free ports, in its own folder, with its own SQLite file and metrics directory."""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 300.0  # the first run may install the requirements
STOP_TIMEOUT = 30.0
_TOKEN = re.compile(r"API token\s+([0-9a-f]{40})")
_GRPC_METRICS = re.compile(r"gRPC metrics\s+http://(\S+)/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, ready: object, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
            pytest.fail(f"{what} within {timeout:.0f}s\n{tail}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class ExportedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, str]


class Collector:
    """An OTLP/HTTP trace receiver on a free port: what every process of make run exports."""

    def __init__(self) -> None:
        self.spans: list[ExportedSpan] = []
        self._lock = threading.Lock()
        received = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.append(
                        ExportedSpan(
                            span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name, span.kind,
                            {a.key: _value(a.value) for a in span.attributes},
                        )
                    )  # fmt: skip
        with self._lock:
            self.spans.extend(found)

    def of_trace(self, trace_id: str) -> list[ExportedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> str:
    kind = value.WhichOneof("value")
    return str(getattr(value, kind)) if kind else ""


@pytest.fixture
def collector() -> Iterator[Collector]:
    received = Collector()
    yield received
    received.close()


@dataclass
class Running:
    base: str
    grpc: str
    worker_metrics: str
    grpc_metrics: str
    token: str
    folder: Path
    metrics_dir: Path
    log: Path


@pytest.fixture
def make_run(tmp_path: Path, collector: Collector) -> Iterator[Running]:
    port, grpc_port, worker_port, grpc_metrics_port = free_port(), free_port(), free_port(), free_port()
    metrics_dir = tmp_path / "prometheus-multiproc"
    log = tmp_path / "run.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "TPFGO_", "OTEL_"))},
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tpfgo.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PORT": str(port),
        "GRPC_PORT": str(grpc_port),
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
        "TPFGO_RETRY_BASE_DELAY": "0.05",
        # As on a worker-only node: the Celery worker serves the node's samples on a port of its own too.
        "TPFGO_WORKER_METRICS_BIND": f"127.0.0.1:{worker_port}",
        # The gRPC server's own streams, which the node's /metrics cannot read, on a port of its own.
        "GRPC_METRICS_PORT": str(grpc_metrics_port),
        # Tracing on, exported with OTLP to the test's collector, in small batches.
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until("make run did not answer /healthz", lambda: answers(base + "/healthz"), START_TIMEOUT, log)
        banner = log.read_text(errors="replace")
        found, grpc_metrics = _TOKEN.search(banner), _GRPC_METRICS.search(banner)
        assert found and grpc_metrics, banner[-4000:]
        assert grpc_metrics.group(1) == f"127.0.0.1:{grpc_metrics_port}"  # the address make run serves and names
        yield Running(
            base, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{worker_port}", grpc_metrics.group(1),
            found.group(1), tmp_path, metrics_dir, log,
        )  # fmt: skip
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever outlived the grace period
    except ProcessLookupError:
        pass
    process.wait()
