"""Prometheus text metrics, per process: counters and latency summaries, plus collectors read at scrape time.

Collectors are callables returning samples from the database (backlogs) or from live objects (gauges), so a
figure that must be true across processes is computed when scraped, not kept in memory.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, dict[str, str], float]

_lock = threading.Lock()
_counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
_summaries: dict[str, dict[Labels, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
_help: dict[str, tuple[str, str]] = {}
_collectors: list[Callable[[], Iterable[Sample]]] = []


def _key(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def describe(name: str, kind: str, text: str) -> None:
    _help[name] = (kind, text)


def inc(name: str, labels: dict[str, str], value: float = 1.0) -> None:
    with _lock:
        _counters[name][_key(labels)] += value


def observe(name: str, labels: dict[str, str], seconds: float) -> None:
    """Record one observation of a summary: ``name_count`` and ``name_sum``."""
    with _lock:
        entry = _summaries[name][_key(labels)]
        entry[0] += 1
        entry[1] += seconds


def register_collector(collector: Callable[[], Iterable[Sample]]) -> None:
    if collector not in _collectors:
        _collectors.append(collector)


def _fmt(labels: Labels | dict[str, str]) -> str:
    items = labels.items() if isinstance(labels, dict) else labels
    if not items:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render() -> str:
    lines: list[str] = []
    with _lock:
        counters = {n: dict(v) for n, v in _counters.items()}
        summaries = {n: {k: list(e) for k, e in v.items()} for n, v in _summaries.items()}
    for name, series in sorted(counters.items()):
        kind, text = _help.get(name, ("counter", name))
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(series.items())]
    for name, observed in sorted(summaries.items()):
        _, text = _help.get(name, ("summary", name))
        lines += [f"# HELP {name} {text}", f"# TYPE {name} summary"]
        for k, (count, total) in sorted(observed.items()):
            lines += [f"{name}_count{_fmt(k)} {count:g}", f"{name}_sum{_fmt(k)} {total:.6f}"]
    seen: set[str] = set()
    for collector in list(_collectors):
        for name, labels, value in collector():
            if name not in seen and name in _help:
                kind, text = _help[name]
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            seen.add(name)
            lines.append(f"{name}{_fmt(labels)} {value:g}")
    return "\n".join(lines) + "\n"


def reset_for_tests() -> None:
    with _lock:
        _counters.clear()
        _summaries.clear()
