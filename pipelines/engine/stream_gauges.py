"""Stream admission and the streaming layer's per-process gauges (``/metrics`` of the process that answers the scrape).

Every live :class:`pipelines.engine.streaming.Stream` is tracked while it runs; the gauges are read from the live
objects when scraped, so an idle process reports zeros, never stale figures. Series carry a ``pid`` label: each
web or gRPC process reports its own buffers and admission.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from django.conf import settings

from pipelines.engine import metrics


class _Buffer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def queued(self) -> int: ...

    @property
    def peak(self) -> int: ...


class _Stage(Protocol):
    @property
    def name(self) -> str: ...


class Tracked(Protocol):
    """What the gauges read of a live stream (``pipelines.engine.streaming.Stream``, which reports to this module)."""

    @property
    def name(self) -> str: ...

    @property
    def buffers(self) -> Sequence[_Buffer]: ...

    @property
    def stages(self) -> Sequence[_Stage]: ...

    @property
    def inflight(self) -> Sequence[int]: ...


_lock = threading.Lock()
_live: dict[int, Tracked] = {}
_seen_buffers: set[tuple[str, str]] = set()
_seen_stages: set[tuple[str, str]] = set()
_refused_items: Counter[str] = Counter()
_admissions: dict[str, Admission] = {}

HELP = {
    "tpfgo_stream_live": ("gauge", "Streams running in this process, per stream name."),
    "tpfgo_stream_buffer_queued": ("gauge", "Items queued in a stream's hand-off buffer (summed over live streams)."),
    "tpfgo_stream_buffer_capacity": ("gauge", "Capacity of a stream's hand-off buffer (summed over live streams)."),
    "tpfgo_stream_buffer_peak": (
        "gauge",
        "Most items a stream's hand-off buffer has held since the stream started (summed over live streams).",
    ),
    "tpfgo_stream_inflight": ("gauge", "Items a stream stage is working on now (summed over live streams)."),
    "tpfgo_stream_items_refused_total": ("counter", "Items refused at intake under the reject policy."),
    "tpfgo_stream_admission_active": ("gauge", "Streams admitted and still open, per admission gate."),
    "tpfgo_stream_admission_capacity": ("gauge", "How many streams this process admits at once, per gate."),
    "tpfgo_stream_admission_admitted_total": ("counter", "Streams admitted, per admission gate."),
    "tpfgo_stream_admission_refused_total": ("counter", "Streams refused at admission (429 / RESOURCE_EXHAUSTED)."),
}
for _name, (_kind, _text) in HELP.items():
    metrics.describe(_name, _kind, _text)


class Admission:
    """How many streams of one kind this process serves at once; a stream beyond that is refused, not queued."""

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.active = self.admitted = self.refused = 0
        self._lock = threading.Lock()

    def try_enter(self) -> Ticket | None:
        with self._lock:
            if self.active >= self.capacity:
                self.refused += 1
                return None
            self.active += 1
            self.admitted += 1
            return Ticket(self)

    def _leave(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket._gate is None:  # released already, perhaps by another thread a moment ago
                return
            ticket._gate = None
            self.active -= 1


class Ticket:
    """An admitted stream's place; ``release`` is idempotent, also from two threads at once (a gRPC call's
    termination callback and its generator's exit), so every exit path may call it."""

    def __init__(self, gate: Admission) -> None:
        self._gate: Admission | None = gate

    def release(self) -> None:
        gate = self._gate
        if gate is not None:
            gate._leave(self)


def admission(name: str, capacity: int | None = None) -> Admission:
    """The process-wide gate ``name``; its capacity follows the argument or ``TPFGO_INGEST_MAX_STREAMS``."""
    wanted = capacity if capacity is not None else int(getattr(settings, "TPFGO_INGEST_MAX_STREAMS", 4))
    with _lock:
        gate = _admissions.get(name)
        if gate is None:
            gate = _admissions[name] = Admission(name, wanted)
        gate.capacity = wanted
        return gate


def track(stream: Tracked) -> None:
    with _lock:
        _live[id(stream)] = stream
        _seen_buffers.update((stream.name, b.name) for b in stream.buffers)
        _seen_stages.update((stream.name, s.name) for s in stream.stages)


def untrack(stream: Tracked) -> None:
    with _lock:
        _live.pop(id(stream), None)


def count_refused(stream: str) -> None:
    with _lock:
        _refused_items[stream] += 1


def gauges() -> list[dict[str, Any]]:
    """Every streaming gauge of this process: ``[{name, labels, value, kind, help}]`` (for ``/metrics``)."""
    pid = str(os.getpid())
    with _lock:
        live = list(_live.values())
        buffers, stages = sorted(_seen_buffers), sorted(_seen_stages)
        refused = dict(_refused_items)
        gates = list(_admissions.values())
    queued: Counter[tuple[str, str]] = Counter()
    capacity: Counter[tuple[str, str]] = Counter()
    peak: Counter[tuple[str, str]] = Counter()
    inflight: Counter[tuple[str, str]] = Counter()
    running: Counter[str] = Counter()
    for stream in live:
        running[stream.name] += 1
        for buffer in stream.buffers:
            queued[stream.name, buffer.name] += buffer.queued
            capacity[stream.name, buffer.name] += buffer.capacity
            peak[stream.name, buffer.name] += buffer.peak
        for stage, count in zip(stream.stages, stream.inflight, strict=True):
            inflight[stream.name, stage.name] += count
    out: list[dict[str, Any]] = []

    def add(name: str, labels: dict[str, str], value: float) -> None:
        kind, text = HELP[name]
        out.append({"name": name, "labels": {**labels, "pid": pid}, "value": value, "kind": kind, "help": text})

    for name in sorted({s for s, _ in buffers} | set(refused)):
        add("tpfgo_stream_live", {"stream": name}, running[name])
        add("tpfgo_stream_items_refused_total", {"stream": name}, refused.get(name, 0))
    for key in buffers:
        labels = {"stream": key[0], "buffer": key[1]}
        add("tpfgo_stream_buffer_queued", labels, queued[key])
        add("tpfgo_stream_buffer_capacity", labels, capacity[key])
        add("tpfgo_stream_buffer_peak", labels, peak[key])
    for key in stages:
        add("tpfgo_stream_inflight", {"stream": key[0], "stage": key[1]}, inflight[key])
    for gate in sorted(gates, key=lambda g: g.name):
        labels = {"gate": gate.name}
        add("tpfgo_stream_admission_active", labels, gate.active)
        add("tpfgo_stream_admission_capacity", labels, gate.capacity)
        add("tpfgo_stream_admission_admitted_total", labels, gate.admitted)
        add("tpfgo_stream_admission_refused_total", labels, gate.refused)
    return out


def collect() -> Iterable[metrics.Sample]:
    # Grouped by name, so each metric's HELP/TYPE header is written once.
    rows = sorted(gauges(), key=lambda g: g["name"])
    return [(g["name"], g["labels"], float(g["value"])) for g in rows]


def reset_for_tests() -> None:
    with _lock:
        _live.clear()
        _seen_buffers.clear()
        _seen_stages.clear()
        _refused_items.clear()
        _admissions.clear()


metrics.register_collector(collect, own=True)
