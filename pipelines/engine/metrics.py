"""Prometheus metrics through ``prometheus-client``, aggregated across processes, plus figures read at scrape time.

Counters and histograms are ``prometheus_client`` objects declared where they are counted (``STEP_SECONDS`` here,
the request series in :mod:`pipelines.transport.request_metrics`, the Celery task outcomes in :mod:`tpfgo_site.celery`).
With ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` sets it for every process it starts, before the first
import), each process (gunicorn workers, the gRPC server, Celery's pool processes) writes its samples to files in
that directory and one ``/metrics`` sums them, so a counter never goes back when a scrape reaches another worker.
Without it (tests, ``manage.py`` commands) the process's own registry is rendered.

Figures that must be true across processes and are not kept in memory (the backlog read from the database, the
live streams of the serving process) are scrape-time collectors: callables returning ``(name, labels, value)``
samples, rendered with the kind and help given to :func:`describe`.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pipelines.contracts.steps import StepStatus

Sample = tuple[str, dict[str, str], float]

disable_created_metrics()  # no ``*_created`` series: Prometheus does not use them and they double the exposition

# Steps take from well under a millisecond (an in-process insert) to seconds (a remote gateway).
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

STEP_SECONDS = Histogram(
    "tpfgo_step_seconds", "Time to run one step on one item, per pipeline and step.", ["pipeline", "step"],
    buckets=STEP_BUCKETS,
)  # fmt: skip
STEP_RUNS = Counter(
    "tpfgo_step_runs_total",
    f"Step runs per pipeline, step and outcome ({', '.join(StepStatus)}).",
    ["outcome", "pipeline", "step"],
)

_help: dict[str, tuple[str, str]] = {}
_collectors: list[Callable[[], Iterable[Sample]]] = []
_own: list[Callable[[], Iterable[Sample]]] = []  # those that read this process's memory (its live streams)
_DB_FILE = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The shared samples directory, or ``None`` when this process keeps its own registry."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


BATCH_STEP_SECONDS = Histogram(
    "tpfgo_batch_step_seconds", "Time to run one step on one batch (the batch path), per pipeline and step.",
    ["pipeline", "step"], buckets=STEP_BUCKETS,
)  # fmt: skip

# The labelled series of each (pipeline, step, outcome), found once: a step run then costs two writes.
_step_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def step_ran(pipeline: str, step: str, outcome: str, seconds: float, *, runs: int = 1) -> None:
    """``runs`` runs of a step with this outcome; ``seconds`` is one run's time (the single path)."""
    key = (pipeline, step, outcome)
    series = _step_series.get(key)
    if series is None:
        series = _step_series[key] = (STEP_SECONDS.labels(pipeline, step), STEP_RUNS.labels(outcome, pipeline, step))
    series[0].observe(seconds)
    series[1].inc(runs)


def step_held(pipeline: str, step: str) -> None:
    """A parked item's attempt (a retry, a redrive, a release) held at its paused step before it ran: a run with
    outcome ``paused``, as the engine counts an item it holds; no time is observed (the step was not called)."""
    STEP_RUNS.labels(StepStatus.PAUSED, pipeline, step).inc()


def batch_step_ran(pipeline: str, step: str, outcomes: Iterable[str], seconds: float) -> None:
    """One batch step: its time once, and its items' outcomes (``tpfgo_step_seconds`` is the single path's)."""
    BATCH_STEP_SECONDS.labels(pipeline, step).observe(seconds)
    for outcome, count in collections.Counter(outcomes).items():
        STEP_RUNS.labels(outcome, pipeline, step).inc(count)


def describe(name: str, kind: str, text: str) -> None:
    """The kind (``gauge`` or ``counter``) and help of a sample name that a scrape-time collector returns."""
    _help[name] = (kind, text)


def register_collector(collector: Callable[[], Iterable[Sample]], *, own: bool = False) -> None:
    """A scrape-time collector; ``own``: it reads this process's memory, so only this process can answer it."""
    if collector not in _collectors:
        _collectors.append(collector)
    if own and collector not in _own:
        _own.append(collector)


class ScrapeTime:
    """The scrape-time collectors as one ``prometheus_client`` collector (one family per sample name)."""

    def __init__(self, collectors: list[Callable[[], Iterable[Sample]]]) -> None:
        self.collectors = collectors  # the list itself: a module imported after the server started registers too

    def describe(self) -> list[Metric]:
        return []  # nothing is read before a scrape (the collectors may query the database)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for collector in self.collectors:
            for name, labels, value in collector():
                family = families.get(name)
                if family is None:
                    kind, text = _help.get(name, ("gauge", name))
                    family = families[name] = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                        name, text, labels=list(labels)
                    )
                family.add_metric(list(labels.values()), value)
        yield from families.values()


class LiveProcesses:
    """``process_*`` of every live process writing to the shared directory, labelled with its ``pid``.

    The standard process collector reports only the process that answers a scrape, so its counters would jump
    between workers; here each live process has its own series.
    """

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        pids = sorted({int(m.group(1)) for p in self.directory.glob("*.db") if (m := _DB_FILE.search(p.name))})
        families: dict[str, Metric] = {}
        for pid in pids:
            if not Path(f"/proc/{pid}").exists():
                continue  # ended: its counters still count (MultiProcessCollector), its process figures do not
            for metric in ProcessCollector(pid=functools.partial(int, pid), registry=None).collect():
                family = families.setdefault(metric.name, Metric(metric.name, metric.documentation, metric.type))
                for sample in metric.samples:
                    family.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from families.values()


def registry(*, scrape_time: bool = True) -> CollectorRegistry:
    """What one scrape renders: every process's samples (or this process's), plus the scrape-time figures."""
    directory = multiprocess_dir()
    out = CollectorRegistry(auto_describe=True)
    if directory:
        multiprocess.MultiProcessCollector(out, path=directory)
        out.register(LiveProcesses(directory))
        PlatformCollector(registry=out)
    else:
        out.register(_Registry(REGISTRY))
    if scrape_time:
        out.register(ScrapeTime(_collectors))
    return out


class _Registry:
    """A registry rendered inside another (its collectors are not re-described)."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return self.inner.collect()


def own_registry(*, folder: bool = False) -> CollectorRegistry:
    """The figures only this process holds (its live streams, ``register_collector(own=True)``), for a process
    that answers no ``/metrics`` (the gRPC server), never the database's figures, which the web nodes render.
    ``folder``: its samples folder too, one that no ``/metrics`` reads (``bin/node grpc``'s own); without it the
    folder's samples are left to the ``/metrics`` that shares it, so no series is scraped twice."""
    out = registry(scrape_time=False) if folder else CollectorRegistry(auto_describe=True)
    out.register(ScrapeTime(_own))
    return out


def serve(bind: str, registry: CollectorRegistry) -> str:
    """Serve ``registry`` over HTTP on ``bind`` (``host:port``, the host 127.0.0.1 when left out) in a thread of
    this process; returns the address listened on. ``ValueError`` for a malformed ``bind``, ``OSError`` when the
    address cannot be listened on."""
    host, _colon, port = bind.rpartition(":")
    if not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{bind!r} is not host:port with a port from 0 to 65535")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    return f"{host or '127.0.0.1'}:{server.server_port}"


def render() -> str:
    return generate_latest(registry()).decode()


def process_ended(pid: int) -> None:
    """A process that wrote to the shared directory ended (gunicorn's ``child_exit``, Celery's pool)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
