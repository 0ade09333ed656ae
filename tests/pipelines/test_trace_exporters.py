"""Spans go where the standard variables say, or nowhere: ``OTEL_TRACES_EXPORTER``'s comma list exports to each
exporter named, and a name or an OTLP protocol TPFGo does not ship keeps tracing off and fails ``manage.py check``
(``pipelines.E051``), where every such process used to send its spans over OTLP/HTTP all the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from pipelines import checks
from pipelines.engine import trace_export

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django
django.setup()
from opentelemetry import trace
with trace.get_tracer("exporter-test").start_as_current_span("probe"):
    pass
getattr(trace.get_tracer_provider(), "shutdown", lambda: None)()  # none when tracing is off
"""


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP collector on a free port: the span names of every export it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Receive)
        self.spans: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            self.server.spans += [span.name for scope in resource.scope_spans for span in scope.spans]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run(command: list[str], **otel: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "OTEL_BSP_SCHEDULE_DELAY": "100", **otel}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def console_spans(stdout: str) -> list[object]:
    return [line["name"] for line in json_lines(stdout) if "context" in line]


def test_a_list_of_exporters_exports_to_each_of_them(collector):
    done = run(
        [sys.executable, "-c", SCRIPT],
        OTEL_TRACES_EXPORTER="otlp,console",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
    )

    assert done.returncode == 0, done.stderr
    assert console_spans(done.stdout) == ["probe"]
    assert collector.spans == ["probe"]


def test_what_tpfgo_cannot_export_keeps_tracing_off_and_fails_the_check(collector):
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_TRACES_EXPORTER": "zipkin"}

    traced = run([sys.executable, "-c", SCRIPT], **otel)
    checked = run([sys.executable, "manage.py", "check"], **otel)

    assert traced.returncode == 0, traced.stderr
    assert collector.spans == []
    warned = [line for line in json_lines(traced.stdout + traced.stderr) if line["event"] == "tracing.unsupported"]
    assert [line["asked"] for line in warned] == [["OTEL_TRACES_EXPORTER=zipkin"]]
    assert checked.returncode == 1
    assert "(pipelines.E051) tracing is off: TPFGo cannot export OTEL_TRACES_EXPORTER=zipkin" in checked.stderr


# The process above shows what an unsupported ask does; these name what else is one, the check run in this process.
@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "otlp,jaeger"}, "OTEL_TRACES_EXPORTER=jaeger"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
        ),
    ],
)
def test_an_unknown_exporter_or_protocol_is_named_by_the_check(monkeypatch, asked, named):
    for variable in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(variable)
    for variable, value in {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", **asked}.items():
        monkeypatch.setenv(variable, value)

    found = checks.tracing_exportable()

    assert [(message.id, message.msg) for message in found] == [
        ("pipelines.E051", f"tracing is off: TPFGo cannot export {named}")
    ]
    assert trace_export.exporters(os.environ) == []


def test_the_traces_own_protocol_wins_over_the_general_one():
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",  # for the metrics and logs of another SDK, say
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }

    assert trace_export.unsupported(otel) == []
    assert [type(exporter).__name__ for exporter in trace_export.exporters(otel)] == ["OTLPSpanExporter"]
