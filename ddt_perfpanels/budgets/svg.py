"""Charts drawn on the server as SVG geometry: no JavaScript, no CDN, nothing to
build. The templates turn these numbers into ``<rect>``/``<polyline>`` elements
(auto-escaped like everything else)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# One colour per metric, in METRICS order; distinguishable and print-friendly.
PALETTE = (
    "#d9534f",
    "#f0ad4e",
    "#e67e22",
    "#5bc0de",
    "#8e44ad",
    "#2c7fb8",
    "#5cb85c",
    "#16a085",
    "#7f8c8d",
    "#c0392b",
    "#34495e",
    "#b8860b",
    "#e84393",
    "#2d3436",
    "#0984e3",
)


def colour(metric: str) -> str:
    from ddt_perfpanels.budgets.metrics import METRICS

    names = list(METRICS)
    i = names.index(metric) if metric in names else len(names) + sum(map(ord, metric))
    return PALETTE[i % len(PALETTE)]


def nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum >= value and its tick step: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1, 1
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if step >= rough:
            break
    step = max(step, 1)
    return math.ceil(value / step) * step, step


@dataclass
class StackedBars:
    width: int
    height: int
    plot_left: int
    plot_top: int
    plot_width: int
    plot_height: int
    bars: list[dict[str, Any]] = field(default_factory=list)
    y_ticks: list[dict[str, Any]] = field(default_factory=list)
    x_labels: list[dict[str, Any]] = field(default_factory=list)
    legend: list[dict[str, Any]] = field(default_factory=list)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def plot_bottom(self) -> int:
        return self.plot_top + self.plot_height

    @property
    def plot_right(self) -> int:
        return self.plot_left + self.plot_width


def stacked_bars(
    starts: list[datetime],
    counts: dict[str, list[int]],
    labels: dict[str, str],
    *,
    hourly: bool,
    width: int = 960,
    height: int = 260,
) -> StackedBars:
    chart = StackedBars(width, height, 44, 10, width - 54, height - 40)
    n = len(starts)
    totals = [sum(values[i] for values in counts.values()) for i in range(n)]
    top, step = nice_ceiling(max(totals, default=0))
    scale = chart.plot_height / top
    slot = chart.plot_width / max(n, 1)
    bar_width = max(slot * 0.8, 1)
    for i, start in enumerate(starts):
        x = chart.plot_left + i * slot + (slot - bar_width) / 2
        y: float = chart.plot_bottom
        segments = []
        when = start.strftime("%Y-%m-%d %H:00") if hourly else start.strftime("%Y-%m-%d")
        for metric, values in counts.items():
            value = values[i]
            if not value:
                continue
            h = value * scale
            y -= h
            segments.append(
                {
                    "metric": metric,
                    "label": labels.get(metric, metric),
                    "count": value,
                    "y": round(y, 2),
                    "height": round(h, 2),
                    "colour": colour(metric),
                }
            )
        chart.bars.append(
            {
                "x": round(x, 2),
                "width": round(bar_width, 2),
                "when": when,
                "total": totals[i],
                "segments": segments,
            }
        )
    tick = 0.0
    while tick <= top + 1e-9:
        chart.y_ticks.append(
            {"y": round(chart.plot_bottom - tick * scale, 2), "label": f"{tick:g}"}
        )
        tick += step
    every = max(1, math.ceil(n / 12))
    for i, start in enumerate(starts):
        if i % every:
            continue
        label = start.strftime("%H:00") if hourly else start.strftime("%b %d")
        if hourly and (i == 0 or start.hour == 0):
            label = start.strftime("%b %d %H:00")
        chart.x_labels.append({"x": round(chart.plot_left + (i + 0.5) * slot, 2), "label": label})
    for metric, values in counts.items():
        chart.legend.append(
            {
                "metric": metric,
                "label": labels.get(metric, metric),
                "colour": colour(metric),
                "total": sum(values),
            }
        )
    return chart


def sparkline(values: list[int], width: int = 120, height: int = 24) -> dict[str, Any]:
    """A polyline's points for a small trend line, and its last point."""
    if not values:
        return {"points": "", "width": width, "height": height}
    peak = max(values) or 1
    n = len(values)
    step = width / max(n - 1, 1)
    points = [
        (round(i * step, 1), round(height - 2 - (v / peak) * (height - 4), 1))
        for i, v in enumerate(values)
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y in points),
        "width": width,
        "height": height,
        "last_x": points[-1][0],
        "last_y": points[-1][1],
        "peak": max(values),
    }
