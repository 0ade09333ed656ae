"""Where spans go: the exporters the standard ``OTEL_*`` variables ask for, and what they ask for that TPFGo cannot do.

``OTEL_TRACES_EXPORTER`` is a comma list (the specification's form, ``otlp,console``); each exporter named gets
its own batch processor. Without it, ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
asks for ``otlp``. TPFGo ships two exporters: ``otlp`` over HTTP/protobuf and ``console``. Any other name
(``zipkin``, ``jaeger``, a typo) or another OTLP protocol (``grpc``, ``http/json``) used to be exported with OTLP over
HTTP all the same, to an address that does not take it: now tracing stays off and ``manage.py check`` reports it
(``pipelines.E051``), so a process never sends its spans somewhere else than asked.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

EXPORTERS = ("otlp", "console")
PROTOCOL = "http/protobuf"


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters the variables ask for, in their order; empty when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if not names:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        return ["otlp"] if endpoint else []
    return [name for name in dict.fromkeys(names) if name != "none"]


def unsupported(environ: Mapping[str, str]) -> list[str]:
    """What the variables ask for that TPFGo cannot export (``pipelines.E051``): each as ``VARIABLE=value``."""
    names = exporter_names(environ)
    wrong = [f"OTEL_TRACES_EXPORTER={name}" for name in names if name not in EXPORTERS]
    if "otlp" in names:
        given = [  # the traces' own variable first: the specification lets it override the general one
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")),
        ]
        variable, protocol = next(((name, value.strip().lower()) for name, value in given if value), ("", PROTOCOL))
        if protocol != PROTOCOL:
            wrong.append(f"{variable}={protocol}")
    return wrong


def exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """One exporter per name asked for; none when any of it is unsupported."""
    if unsupported(environ):
        return []
    made: list[SpanExporter] = []
    for name in exporter_names(environ):
        if name == "console":
            made.append(console_exporter())
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            made.append(OTLPSpanExporter())
    return made


def console_exporter(out: IO[str] | None = None) -> SpanExporter:
    """``OTEL_TRACES_EXPORTER=console``: each span as one JSON line on stdout, among the JSON log lines (the SDK's
    default writes each span over many indented lines, which breaks "one JSON object per line")."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    def one_line(span: ReadableSpan) -> str:
        return str(span.to_json(indent=None)) + "\n"

    return ConsoleSpanExporter(out=out or sys.stdout, formatter=one_line)
