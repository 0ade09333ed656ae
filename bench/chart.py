"""The bench's chart: orders/s per system and history level, one panel per backend, each bar labelled with its
ratio to the floor of its level (``python -m bench`` writes it as ``bench/results/bench-<time>.svg`` beside the
JSON; docs/performance.md shows one).

A small SVG writer rather than matplotlib: the chart is bars, a log axis and text, and matplotlib (with numpy
and pillow under it) would be installed into the project's virtualenv for this one picture.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

# The systems drawn, in order, with their colour and short label; a system missing from a run is left out.
BARS = [
    ("raw_floor", "#222222", "floor (fastest raw)"),
    ("raw_executemany", "#999999", "raw executemany"),
    ("raw_per_order", "#cccccc", "raw, tx per order"),
    ("tpfgo_batch", "#1f77b4", "TPFGo batched"),
    ("tpfgo_single", "#ff7f0e", "TPFGo single (per-step tx)"),
    ("tpfgo_single_pipeline_tx", "#ffbb78", "TPFGo single (per-pipeline tx)"),
    ("tpfgo_single_boundary", "#d62728", "TPFGo single (durable at boundary)"),
    ("dbos", "#2ca02c", "DBOS"),
]
BAR, GAP, GROUP_GAP = 18, 2, 26
TOP, BOTTOM, LEFT, PANEL_H = 40, 50, 70, 260


def svg(figures: dict[str, dict[str, dict[str, dict[str, float]]]], title: str) -> str:
    """``figures``: per backend, per level, per system the medians (``orders_per_s``, ``x_floor``)."""
    values = [
        f["orders_per_s"]
        for levels in figures.values()
        for systems in levels.values()
        for f in systems.values()
        if f.get("orders_per_s", 0) > 0
    ]
    low = 10 ** math.floor(math.log10(min(values, default=1)))
    high = 10 ** math.ceil(math.log10(max(values, default=10)))
    panels = []
    width = LEFT + 3 * 220  # the legend's three columns
    for backend, levels in figures.items():
        groups = [
            (level, [(name, colour) for name, colour, _ in BARS if name in systems])
            for level, systems in levels.items()
        ]
        panel_w = sum(len(bars) * (BAR + GAP) + GROUP_GAP for _, bars in groups)
        panels.append((backend, levels, groups, panel_w))
        width = max(width, LEFT + panel_w + 20)
    height = TOP + len(panels) * (PANEL_H + BOTTOM) + 30 + 18 * ((len(BARS) + 2) // 3)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">{escape(title)}</text>',
    ]
    for n, (backend, levels, groups, panel_w) in enumerate(panels):
        top = TOP + n * (PANEL_H + BOTTOM)
        out.extend(_panel(backend, levels, groups, panel_w, top, low, high))
    legend_top = TOP + len(panels) * (PANEL_H + BOTTOM) + 10
    for n, (_, colour, label) in enumerate(BARS):
        x, y = LEFT + (n % 3) * 220, legend_top + (n // 3) * 18
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 10}">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _y(value: float, top: int, low: float, high: float) -> float:
    """The height of ``value`` on the panel's log axis."""
    share = (math.log10(max(value, low)) - math.log10(low)) / (math.log10(high) - math.log10(low))
    return top + PANEL_H - share * PANEL_H


def _panel(
    backend: str,
    levels: dict[str, dict[str, dict[str, float]]],
    groups: list[tuple[str, list[tuple[str, str]]]],
    panel_w: int,
    top: int,
    low: float,
    high: float,
) -> list[str]:
    out = [f'<text x="{LEFT}" y="{top - 6}" font-size="12" font-weight="bold">{escape(backend)}</text>']
    decade = low
    while decade <= high:
        y = _y(decade, top, low, high)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:,.0f}</text>')
        decade *= 10
    out.append(
        f'<text x="14" y="{top + PANEL_H / 2:.0f}" transform="rotate(-90 14 {top + PANEL_H / 2:.0f})" '
        'text-anchor="middle">orders/s (log)</text>'
    )
    x = LEFT + GROUP_GAP / 2
    for level, bars in groups:
        start = x
        floor = levels[level].get("raw_floor", {}).get("orders_per_s", 0.0)
        for name, colour in bars:
            f = levels[level][name]
            y = _y(f["orders_per_s"], top, low, high)
            ratio = f.get("x_floor", f["orders_per_s"] / floor if floor else 0.0)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{BAR}" height="{top + PANEL_H - y:.1f}" fill="{colour}">'
                f"<title>{escape(name)}: {f['orders_per_s']:,.0f} orders/s, {ratio:.2f}× the floor</title></rect>"
            )
            out.append(
                f'<text x="{x + BAR / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">{ratio:.2f}</text>'
            )
            x += BAR + GAP
        middle = (start + x - GAP) / 2
        label = f"{int(level):,} stored"
        out.append(f'<text x="{middle:.1f}" y="{top + PANEL_H + 16}" text-anchor="middle">{label}</text>')
        x += GROUP_GAP
    out.append(f'<line x1="{LEFT}" x2="{LEFT + panel_w}" y1="{top + PANEL_H}" y2="{top + PANEL_H}" stroke="#444444"/>')
    return out


def write(report: dict[str, Any], path: Any) -> None:
    """The chart of a ``python -m bench`` report (its ``backends``' figures) written to ``path``."""
    figures = {backend: data["figures"] for backend, data in report["backends"].items()}
    title = f"make bench {report['started']}: orders/s, bar labels = × the floor of the level"
    path.write_text(svg(figures, title))
