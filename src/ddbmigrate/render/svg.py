"""The items-per-second chart of the HTML report, as inline SVG."""

from __future__ import annotations

import colorsys
import itertools
import math
from collections.abc import Mapping, Sequence
from html import escape

# Tableau 10: ten colours told apart by most eyes (and most colour-blind ones) side by side.
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_W, _PLOT_H = 760, 260
_LEFT, _RIGHT, _TOP, _AXIS = 70, 20, 20, 40
_LEGEND_ROW = 16


def colors(count: int) -> list[str]:
    """``count`` distinct colours: the palette while it lasts, else hues spread evenly."""
    if count <= len(_PALETTE):
        return list(_PALETTE[:count])
    out = []
    for index in range(count):
        red, green, blue = colorsys.hls_to_rgb(index / count, 0.45, 0.65)
        out.append(f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}")
    return out


def chart_svg(series: Mapping[str, Sequence[Sequence[float]]]) -> str:
    """A line per series: x seconds since the run started, y items/s. Inline, no scripts.

    Each sample is the average rate over the window since the previous one, so it is drawn
    flat across that window (a step line): a step that ran at 500 items/s for 0.8 s is a
    flat line at 500 over those 0.8 s, not a ramp from 0. Series that never moved an item
    are left out.
    """
    # Steps that moved no items (preflight, schema) have rows in the table, not lines here.
    series = {name: samples for name, samples in series.items() if any(p[1] for p in samples)}
    points = [p for samples in series.values() for p in samples]
    if len(points) < 2:
        return "<p>No throughput samples were recorded.</p>"
    x_max = _nice(max(p[0] for p in points) or 1.0)
    y_max = _nice(max(p[1] for p in points) or 1.0)
    width = _W - _LEFT - _RIGHT
    height = _TOP + _PLOT_H + _AXIS + _LEGEND_ROW * len(series) + 8

    def xy(t: float, rate: float) -> str:
        return f"{_LEFT + t / x_max * width:.1f},{_TOP + _PLOT_H - rate / y_max * _PLOT_H:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}" role="img" aria-label="items per second over time">',
        *_axes(x_max, y_max, width),
    ]
    for index, ((name, samples), color) in enumerate(
        zip(series.items(), colors(len(series)), strict=True)
    ):
        line = " ".join(xy(t, rate) for t, rate in _steps(samples))
        label = escape(name, quote=True)
        out.append(
            f'<polyline class="series" data-series="{label}" fill="none" stroke="{color}" '
            f'stroke-width="1.5" points="{line}"><title>{label}</title></polyline>'
        )
        y = _TOP + _PLOT_H + _AXIS + _LEGEND_ROW * index
        out.append(
            f'<rect x="{_LEFT}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{_LEFT + 16}" y="{y + 9}">{label}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _steps(samples: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """The corners of a step line: up at each window's start, flat to its end, down to 0
    after the last window."""
    if not samples:
        return []
    corners = [(float(samples[0][0]), 0.0)]
    for (start, _), (end, rate) in itertools.pairwise(samples):
        corners += [(float(start), float(rate)), (float(end), float(rate))]
    corners.append((float(samples[-1][0]), 0.0))
    return corners


def _axes(x_max: float, y_max: float, width: float) -> list[str]:
    bottom = _TOP + _PLOT_H
    out = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + width}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{_LEFT + width / 2:.0f}" y="{bottom + 30}" text-anchor="middle">'
        "seconds since the run started</text>",
    ]
    for i in range(5):
        frac = i / 4
        x = _LEFT + frac * width
        y = bottom - frac * _PLOT_H
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
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0")  # 1.25 and 2.5, not 1.2 and 2.50
