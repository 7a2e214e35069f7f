"""The items-per-second chart of the HTML report, as inline SVG."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
_W, _H = 760, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 20, 40


def chart_svg(series: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """A line per step: x seconds since the run started, y items/s. Inline, no scripts."""
    points = [p for samples in series.values() for p in samples]
    if len(points) < 2:
        return "<p>No throughput samples were recorded.</p>"
    x_max = _nice(max(p[0] for p in points) or 1.0)
    y_max = _nice(max(p[1] for p in points) or 1.0)
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def xy(t: float, rate: float) -> str:
        return f"{_LEFT + t / x_max * width:.1f},{_TOP + height - rate / y_max * height:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="items per second over time">',
        *_axes(x_max, y_max, width, height),
    ]
    for index, (step, samples) in enumerate(series.items()):
        color = _COLORS[index % len(_COLORS)]
        line = " ".join(xy(t, rate) for t, rate in samples)
        out.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}">'
            f"<title>{escape(step, quote=True)}</title></polyline>"
        )
        y = _TOP + 12 + 14 * index
        out.append(
            f'<rect x="{_W - _RIGHT - 110}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{_W - _RIGHT - 95}" y="{y + 1}">{escape(step, quote=True)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _axes(x_max: float, y_max: float, width: float, height: float) -> list[str]:
    bottom = _TOP + height
    out = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + width}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{_LEFT + width / 2:.0f}" y="{_H - 5}" text-anchor="middle">'
        "seconds since start</text>",
    ]
    for i in range(5):
        frac = i / 4
        x = _LEFT + frac * width
        y = bottom - frac * height
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{_tick(frac * x_max)}</text>'
        )
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + width}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(frac * y_max)}</text>'
        )
    return out


def _nice(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"
