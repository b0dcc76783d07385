"""Bar and line charts drawn as inline SVG on the server, so the dashboard needs no chart library.

Each chart is a ``<figure>`` with an accessible SVG (a title, one ``<title>`` tooltip per bar or
point) and an HTML legend. The drawing is plain arithmetic on a fixed view box; CSS scales it
to the page width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#2d5be3", "#1d9a6c", "#e3a22d", "#c0362c", "#8a4fd1", "#5d6877")

WIDTH = 480
HEIGHT = 200
LEFT = 50
RIGHT = 10
TOP = 12
BOTTOM = 26
MAX_X_LABELS = 7


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]


TICKS = 4


def nice_ceiling(value: float) -> float:
    """An axis top of ``TICKS`` equal steps of 1, 2 or 5 × 10ⁿ (never below 1), so every
    tick reads as a round number and counts get whole-number ticks."""
    if value <= 0:
        return float(TICKS)
    raw_step = value / TICKS
    exponent = math.floor(math.log10(raw_step))
    for factor in (1, 2, 5, 10):
        step = max(1.0, factor * 10.0**exponent)
        if step * TICKS >= value - 1e-9:
            return step * TICKS
    return 10.0 ** (exponent + 1) * TICKS


def plain_number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:g}" if value != int(value) else str(int(value))


def as_percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _label_step(count: int) -> int:
    return max(1, math.ceil(count / MAX_X_LABELS))


def _frame(
    title: str,
    labels: Sequence[str],
    y_max: float,
    y_format: Callable[[float], str],
    x_position: Callable[[int], float],
) -> list[str]:
    """Title, horizontal grid lines with their values, the baseline and thinned x labels."""
    parts = [f"<title>{escape(title)}</title>"]
    plot_bottom = HEIGHT - BOTTOM
    for i in range(TICKS + 1):
        value = y_max * i / TICKS
        y = plot_bottom - (plot_bottom - TOP) * i / TICKS
        css = "axis" if i == 0 else "grid-line"
        parts.append(
            f'<line class="{css}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format(value))}</text>'
        )
    step = _label_step(len(labels))
    for index in range(0, len(labels), step):
        parts.append(
            f'<text x="{x_position(index):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"{escape(labels[index])}</text>"
        )
    return parts


def _figure(
    svg_parts: list[str], title: str, series: Sequence[Series], css: str, legend_always: bool
) -> Markup:
    svg = (
        f'<svg class="chart {css}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(svg_parts)
        + "</svg>"
    )
    legend = ""
    if len(series) > 1 or (legend_always and series):
        legend = (
            '<figcaption class="legend">'
            + "".join(
                f'<span><span class="swatch sw-{i % len(PALETTE)}"></span>{escape(s.name)}</span>'
                for i, s in enumerate(series)
            )
            + "</figcaption>"
        )
    # Every text and attribute value above went through escape(); numbers are formatted here.
    return Markup(f'<figure class="chart-figure">{svg}{legend}</figure>')  # noqa: S704


def _empty(title: str, css: str) -> Markup:
    parts = [
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">No data in this period</text>',
    ]
    return _figure(parts, title, [], css, legend_always=False)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_format: Callable[[float], str] = plain_number,
    legend: bool = False,
) -> Markup:
    """Stacked bars, one per label; each series is one colour of the stack.

    The legend shows when there are several series, or always with ``legend=True``.
    """
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    if not labels or not any(totals):
        return _empty(title, "bar-chart")
    y_max = nice_ceiling(max(totals))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(labels)
    bar_width = max(1.0, min(slot * 0.72, 48.0))

    def x_center(index: int) -> float:
        return LEFT + slot * (index + 0.5)

    parts = _frame(title, labels, y_max, y_format, x_center)
    for index, label in enumerate(labels):
        base = float(HEIGHT - BOTTOM)
        for position, s in enumerate(series):
            value = s.values[index]
            if value <= 0:
                continue
            height = plot_height * value / y_max
            base -= height
            name = f"{s.name}: " if len(series) > 1 else ""
            parts.append(
                f'<rect x="{x_center(index) - bar_width / 2:.1f}" y="{base:.1f}" '
                f'width="{bar_width:.1f}" height="{height:.1f}" fill="{_color(position)}">'
                f"<title>{escape(label)}: {escape(name)}{escape(y_format(value))}</title></rect>"
            )
    return _figure(parts, title, series, "bar-chart", legend)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    y_format: Callable[[float], str] = plain_number,
    y_max: float | None = None,
) -> Markup:
    """One line per series; a missing value (NaN) breaks the line instead of drawing zero."""
    present = [v for s in series for v in s.values if not math.isnan(v)]
    if not labels or not present:
        return _empty(title, "line-chart")
    top = y_max if y_max is not None else nice_ceiling(max(present))
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / len(labels)

    def x_at(index: int) -> float:
        """Points sit where the bars of a bar chart over the same labels would stand."""
        return LEFT + slot * (index + 0.5)

    def y_at(value: float) -> float:
        return HEIGHT - BOTTOM - plot_height * min(value, top) / top

    parts = _frame(title, labels, top, y_format, x_at)
    for position, s in enumerate(series):
        color = _color(position)
        segment: list[str] = []
        segments: list[list[str]] = []
        for index, value in enumerate(s.values):
            if math.isnan(value):
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x_at(index):.1f},{y_at(value):.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                    f'stroke-linejoin="round" points="{" ".join(points)}"/>'
                )
        for index, value in enumerate(s.values):
            if math.isnan(value):
                continue
            name = f"{s.name}: " if len(series) > 1 else ""
            parts.append(
                f'<circle cx="{x_at(index):.1f}" cy="{y_at(value):.1f}" r="3" fill="{color}">'
                f"<title>{escape(labels[index])}: {escape(name)}{escape(y_format(value))}</title>"
                "</circle>"
            )
    return _figure(parts, title, series, "line-chart", False)
