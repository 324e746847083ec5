"""Series → inline SVG charts, drawn on the server so the admin needs no script or CDN.

Every text that reaches the markup (model names, key names, titles) is escaped here; the result
is marked safe only once it is whole. Tooltips are SVG <title> elements, which browsers show on
hover. Colours are the Okabe–Ito palette, told apart also by people with colour blindness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from gateway.ops import number_format
from gateway.ops.number_format import Formatter, nice_ticks

REFUSED_COLOUR = "#000000"  # Okabe–Ito black: requests refused before any model was chosen
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F"]
WIDTH = 560  # viewBox units; a chart is scaled to its box, so this sets the text size on screen
BAR_WIDTH = 360
PLOT_HEIGHT = 170
LEFT, RIGHT, TOP = 60, 14, 40
BAR_ROW = 26
MAX_BARS = 12
MAX_X_LABELS = 8

# The axes' and labels' number formats live in number_format; re-exported for the views.
count, dollars, percent, millis = number_format.si, number_format.usd, number_format.percent, number_format.millis


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no value in that bucket (no point; the line joins its neighbours)
    colour: str = ""  # empty: by position in the palette


def axis(largest: float, *, whole: bool = False) -> list[float]:
    """Tick values from 0 to just above the largest value, 1/2/5 × 10ⁿ apart, at most 5 intervals."""
    return nice_ticks(largest, whole=whole)


def palette(names: Sequence[str]) -> dict[str, str]:
    """One colour per name, kept across every chart of a page; "other" is always grey."""
    colours = PALETTE[:-1]
    return {name: PALETTE[-1] if name == "other" else colours[i % len(colours)] for i, name in enumerate(names)}


def _colour(position: int, name: str, chosen: str = "") -> str:
    if chosen:
        return chosen
    return PALETTE[-1] if name == "other" else PALETTE[position % (len(PALETTE) - 1)]


def _header(name: str, title: str, width: int, height: int, summary: str, title_x: int = LEFT) -> list[str]:
    ident = f"chart-{escape(name)}"
    return [
        f'<svg class="gw-chart" data-chart="{escape(name)}" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(summary)}</desc>',
        f'<text class="gw-chart-title" x="{title_x}" y="20" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]


def _legend(series: Sequence[Series], top: float, chart_width: int) -> tuple[list[str], int]:
    """Swatches and names in rows under the plot; also says how many rows they took."""
    parts, x, row = [], float(LEFT), 0
    for position, line in enumerate(series):
        label = line.name if len(line.name) <= 34 else line.name[:33] + "…"
        width = 22 + 7 * len(label)
        if x + width > chart_width - RIGHT and x > LEFT:
            x, row = float(LEFT), row + 1
        y = top + 16 * row
        colour = _colour(position, line.name, line.colour)
        parts.append(
            f'<g class="gw-legend"><title>{escape(line.name)}</title>'
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 16:.1f}" y="{y + 1:.1f}" font-size="12">{escape(label)}</text></g>'
        )
        x += width + 12
    return parts, row + 1


def _tick_label(moment: datetime, hourly: bool, first: bool) -> str:
    """Days as "24 Nov"; hours as "06:00", dated where a day starts and on the first tick."""
    if not hourly or moment.hour == 0:
        return moment.strftime("%d %b")
    return moment.strftime("%d %b %H:00" if first else "%H:00")


def time_chart(
    name: str,
    title: str,
    moments: Sequence[datetime],
    series: Sequence[Series],
    fmt: Formatter,
    *,
    hourly: bool,
    stacked: bool = False,
    whole: bool = False,
    width: int = WIDTH,
) -> SafeString:
    """Lines (or stacked areas) over time buckets, with a y grid, dated x labels and a legend."""
    bottom = TOP + PLOT_HEIGHT
    legend, legend_rows = _legend(series, bottom + 40, width)
    height = TOP + PLOT_HEIGHT + 34 + 16 * legend_rows
    plot_width = width - LEFT - RIGHT

    tops = list(_stack(series)) if stacked else [list(line.values) for line in series]
    largest = max((value for line in tops for value in line if value is not None), default=0.0)
    ticks = axis(largest, whole=whole)
    ceiling = ticks[-1]
    step = ticks[1] - ticks[0]
    count_ = len(moments)

    def x_at(position: int) -> float:
        return LEFT + (plot_width * (position + 0.5) / count_ if count_ else 0)

    def y_at(value: float) -> float:
        return bottom - PLOT_HEIGHT * value / ceiling

    tip_label = "%d %b %H:00" if hourly else "%d %b %Y"
    summary = f"{title}: {len(series)} series over {count_} {'hours' if hourly else 'days'}, peak {fmt(largest)}"
    parts = _header(name, title, width, height, summary)
    for value in ticks:
        y = y_at(value)
        parts.append(
            f'<line class="gw-grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ccc" stroke-width="{1 if value else 1.5}"/>'
            f'<text class="gw-ytick" x="{LEFT - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">'
            f"{escape(fmt(value, step))}</text>"
        )
    every = max(1, math.ceil(count_ / MAX_X_LABELS))
    for position in range(0, count_, every):
        parts.append(
            f'<text class="gw-xtick" x="{x_at(position):.1f}" y="{bottom + 16}" font-size="12" text-anchor="middle">'
            f"{escape(_tick_label(moments[position], hourly, first=position == 0))}</text>"
        )

    floor: list[float] = [0.0] * count_
    for position, (line, top) in enumerate(zip(series, tops, strict=True)):
        colour = _colour(position, line.name, line.colour)
        if stacked:
            upper = [(x_at(i), y_at(value or 0.0)) for i, value in enumerate(top)]
            lower = [(x_at(i), y_at(value)) for i, value in reversed(list(enumerate(floor)))]
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower)
            parts.append(f'<polygon class="gw-area" points="{points}" fill="{colour}" fill-opacity="0.55"/>')
            floor = [value or 0.0 for value in top]
        parts.append(
            f'<path class="gw-line" d="{_path(top, x_at, y_at)}" fill="none" stroke="{colour}" '
            f'stroke-width="2" stroke-linejoin="round"/>'
        )
        for i, value in enumerate(line.values):
            if value is None or top[i] is None:
                continue
            tip = f"{line.name} · {moments[i].strftime(tip_label)}: {fmt(value)}"
            parts.append(
                f'<circle cx="{x_at(i):.1f}" cy="{y_at(top[i]):.1f}" r="{3 if count_ <= 60 else 1.5}" '
                f'fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
    if largest == 0:
        parts.append(_nothing(bottom - PLOT_HEIGHT / 2, width))
    parts.extend(legend)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated text above went through escape()


def _stack(series: Sequence[Series]) -> list[list[float]]:
    running = [0.0] * (len(series[0].values) if series else 0)
    stacked = []
    for line in series:
        running = [total + (value or 0.0) for total, value in zip(running, line.values, strict=True)]
        stacked.append(list(running))
    return stacked


def _path(values: Sequence[float | None], x_at: Callable[[int], float], y_at: Callable[[float], float]) -> str:
    """M/L commands through the values that exist; a bucket without one is skipped, not drawn as 0."""
    points = [f"{x_at(i):.1f},{y_at(value):.1f}" for i, value in enumerate(values) if value is not None]
    return ("M" + " L".join(points)) if points else "M0,0"


def _nothing(y: float, width: int) -> str:
    middle = LEFT + (width - LEFT - RIGHT) / 2
    return (
        f'<text class="gw-empty" x="{middle:.1f}" y="{y:.1f}" font-size="13" text-anchor="middle">'
        "No requests in this range</text>"
    )


def bar_chart(
    name: str,
    title: str,
    rows: Sequence[tuple[str, float]],
    fmt: Formatter,
    colours: Mapping[str, str] | None = None,
) -> SafeString:
    """Horizontal bars, largest first, each labelled with its value; the rest beyond MAX_BARS are summed."""
    rows = sorted(rows, key=lambda row: -row[1])
    if len(rows) > MAX_BARS:
        rows = [*rows[: MAX_BARS - 1], ("other", sum(value for _, value in rows[MAX_BARS - 1 :]))]
    label_width = 136
    left = label_width + 8
    usable = BAR_WIDTH - left - 62
    height = TOP + BAR_ROW * max(len(rows), 1) + 12
    ceiling = max((value for _, value in rows), default=0.0) or 1.0
    summary = f"{title}: " + ", ".join(f"{label} {fmt(value)}" for label, value in rows) if rows else title
    parts = _header(name, title, BAR_WIDTH, height, summary, title_x=8)
    for i, (label, value) in enumerate(rows):
        y = TOP + i * BAR_ROW
        shown = label if len(label) <= 18 else label[:17] + "…"
        width = max(usable * value / ceiling, 1.0 if value else 0.0)
        colour = _colour(i, label, (colours or {}).get(label, ""))
        parts.append(
            f'<g class="gw-bar"><title>{escape(f"{label}: {fmt(value)}")}</title>'
            f'<text x="{label_width}" y="{y + 15}" font-size="12" text-anchor="end">{escape(shown)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{width:.1f}" height="{BAR_ROW - 8}" rx="2" fill="{colour}"/>'
            f'<text x="{left + width + 6:.1f}" y="{y + 15}" font-size="12">{escape(fmt(value))}</text></g>'
        )
    if not rows:
        parts.append(_nothing(TOP + 14, BAR_WIDTH))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 — every interpolated text above went through escape()
