"""Inline SVG charts for the HTML reports: horizontal bars, histograms, curves over steps.

What a reader can rely on: every chart has labelled axes on a stated scale (rewards on a common
0..1, widened only when a value leaves it, so two charts compare by eye); legends and labels sit
outside the plotted area; a label is never cut — long names are shortened to the part that tells
them apart, wrapped, and given in full in a tooltip and a legend. Chart text is monospace so its
width is known here, without a browser.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence

from openrft.evals.report import esc

WIDTH = 640
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
_CHAR = 6.7
"""Advance of one 11px monospace character (DejaVu Sans Mono: 0.602 em), rounded up."""
_LABEL_CHARS = 28
_BAR_X0, _BAR_X1, _TOP = 208.0, WIDTH - 56.0, 30.0
Scale = Callable[[float], float]


def ticks(low: float, high: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """Round ticks from at or below `low` to at or above `high`, about `count` of them."""
    high = high if high > low else low + 1.0
    raw = (high - low) / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0)]
    step = next(s for s in steps if s >= raw * (1 - 1e-9) and (not integer or s == int(s)))
    step = max(step, 1.0) if integer else step
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    return [round(first + i * step, 9) for i in range(round((last - first) / step) + 1)]


def number(value: float) -> str:
    return f"{round(value, 9):g}"


def bins(
    values: Sequence[float], low: float, high: float, count: int
) -> list[tuple[float, float, int]]:
    """`count` equal bins over [low, high]: each holds low <= v < high, the last also v == high."""
    edges = [low + (high - low) * k / count for k in range(count + 1)]
    counts = [0] * count
    for value in values:
        counts[min(count - 1, max(0, bisect.bisect_right(edges, value) - 1))] += 1
    return [(edges[k], edges[k + 1], counts[k]) for k in range(count)]


def bin_label(low: float, high: float, last: bool) -> str:
    return f"[{number(low)}, {number(high)}{']' if last else ')'}"


def distinct(labels: Sequence[str]) -> list[str]:
    """The part of each label that tells it apart: leading `:`/`/` segments that all labels
    share are dropped (marked with "…"), the last segment always kept."""
    parts = [re.split(r"(?<=[:/])", label) for label in labels]
    common = 0
    while (
        len(parts) > 1
        and all(len(p) > common + 1 for p in parts)
        and len({p[common] for p in parts}) == 1
    ):
        common += 1
    return ["…" + "".join(p[common:]) if common else "".join(p) for p in parts]


def wrap(text: str, width: int = _LABEL_CHARS) -> list[str]:
    """Lines of at most `width` characters, broken after a separator where one is near."""
    lines = []
    while len(text) > width:
        cut = max(text.rfind(sep, 0, width) for sep in ":/-_ ") + 1
        cut = cut if cut > width // 2 else width
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text]


def _svg(title: str, height: float, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'font-family="DejaVu Sans Mono,monospace" font-size="11" role="img" '
        f'aria-label="{esc(title)}"><text class="title" x="8" y="18" font-size="13" '
        f'font-weight="600">{esc(title)}</text>{body}</svg>'
    )


def _x_axis(marks: list[float], y: float, x0: float, x1: float, title: str) -> str:
    scale = _linear(marks[0], marks[-1], x0, x1)
    parts = [f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#666"/>']
    for mark in marks:
        x = scale(mark)
        parts.append(
            f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#666"/>'
            f'<text class="tick x" x="{x:.1f}" y="{y + 16}" text-anchor="middle">'
            f"{number(mark)}</text>"
        )
    parts.append(
        f'<text class="axis-title x" x="{(x0 + x1) / 2:.1f}" y="{y + 32}" '
        f'text-anchor="middle">{esc(title)}</text>'
    )
    return "".join(parts)


def _linear(low: float, high: float, start: float, end: float) -> Scale:
    return lambda value: start + (value - low) / (high - low) * (end - start)


def _legend(names: Sequence[str], shown: Sequence[str]) -> str:
    """Full names under a chart whose labels were shortened (HTML, so they wrap)."""
    if list(names) == list(shown):
        return ""
    items = "".join(
        f'<li><span class="swatch" style="background:{COLORS[i % len(COLORS)]}"></span>'
        f"<b>{esc(short)}</b> {esc(name)}</li>"
        for i, (name, short) in enumerate(zip(names, shown, strict=True))
    )
    return f'<ul class="legend">{items}</ul>'


def bars(
    title: str,
    values: dict[str, float],
    *,
    axis: str = "mean reward",
    scale: tuple[float, float] = (0.0, 1.0),
    digits: int = 3,
    colored: bool = True,
) -> str:
    """One horizontal bar per label on `scale` (widened to hold every value); `digits=0` for
    counts. Labels that share a long prefix show their distinct part, the legend the rest."""
    finite = [v for v in values.values() if math.isfinite(v)]
    marks = ticks(min([scale[0], *finite]), max([scale[1], *finite]), integer=digits == 0)
    x = _linear(marks[0], marks[-1], _BAR_X0, _BAR_X1)
    base = x(min(max(0.0, marks[0]), marks[-1]))
    names, shown = list(values), distinct(list(values))
    rows, y = [], _TOP
    for index, (name, label) in enumerate(zip(names, shown, strict=True)):
        lines = wrap(label)
        height = max(22.0, 14.0 * len(lines) + 8)
        hue = index if colored else 0
        rows.append(_bar(hue, name, lines, values[name], y, height, base, x, digits))
        y += height
    body = "".join(rows) + _x_axis(marks, y + 4, _BAR_X0, _BAR_X1, axis)
    return _svg(title, y + 44, body) + _legend(names, shown)


def _bar(index: int, name: str, lines: list[str], value: float, y: float, height: float,
         base: float, x: Scale, digits: int) -> str:  # fmt: skip
    color = COLORS[index % len(COLORS)]
    middle = y + height / 2
    first = middle - 7 * (len(lines) - 1) + 4
    label = "".join(
        f'<tspan x="8" y="{first + 14 * i:.1f}">{esc(line)}</tspan>' for i, line in enumerate(lines)
    )
    parts = [f"<g><title>{esc(name)}</title>", f'<text class="label">{label}</text>']
    if math.isfinite(value):
        end = x(value)
        parts.append(
            f'<rect class="bar" x="{min(base, end):.1f}" y="{middle - 7:.1f}" '
            f'width="{abs(end - base):.1f}" height="14" fill="{color}"/>'
        )
        text, at = f"{value:.{digits}f}", max(base, end) + 4
    else:
        text, at = "n/a", base + 4
    parts.append(f'<text class="value" x="{at:.1f}" y="{middle + 4:.1f}">{text}</text></g>')
    return "".join(parts)


def histogram(
    title: str, values: Sequence[float], *, count: int = 10, what: str = "answers"
) -> str:
    """How many of `values` fall in each of `count` equal bins over 0..1 (widened to hold every
    value); bins are labelled by their range, the top one inclusive."""
    finite = [v for v in values if math.isfinite(v)]
    low, high = min([0.0, *finite]), max([1.0, *finite])
    counted = bins(finite, low, high, count)
    labels = {bin_label(a, b, k == count - 1): float(n) for k, (a, b, n) in enumerate(counted)}
    title = f"{title} ({len(finite)} {what})"
    return bars(title, labels, axis=what, scale=(0.0, 1.0), digits=0, colored=False)


def lines(
    title: str,
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    x_title: str = "step",
    y_title: str = "mean reward",
) -> str:
    """Curves over steps on 0..1 (widened to hold every value), a legend above the plot."""
    height, left, right, top, bottom = 280.0, 64.0, WIDTH - 16.0, 52.0, 280.0 - 48.0
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    x_marks = ticks(min([p[0] for p in points] or [0.0]), max([p[0] for p in points] or [1.0]),
                    count=7, integer=True)  # fmt: skip
    y_marks = ticks(min([0.0, *(p[1] for p in points)]), max([1.0, *(p[1] for p in points)]))
    px = _linear(x_marks[0], x_marks[-1], left, right)
    py = _linear(y_marks[0], y_marks[-1], bottom, top)
    body = [_y_axis(y_marks, py, left, right, y_title, (top + bottom) / 2)]
    body.append(_x_axis(x_marks, bottom, left, right, x_title))
    body.append(_curve_legend(list(series)))
    for index, values in enumerate(series.values()):
        body.append(_curve(index, [(px(a), py(b)) for a, b in values if math.isfinite(b)]))
    return _svg(title, height, "".join(body))


def _y_axis(marks: list[float], py: Scale, left: float, right: float, title: str,
            middle: float) -> str:  # fmt: skip
    parts = []
    for mark in marks:
        y = py(mark)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text class="tick y" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{number(mark)}</text>"
        )
    parts.append(
        f'<text class="axis-title y" x="16" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {middle:.1f})">{esc(title)}</text>'
    )
    return "".join(parts)


def _curve_legend(labels: list[str]) -> str:
    parts, x = ['<g class="legend">'], 64.0
    for index, label in enumerate(labels):
        color = COLORS[index % len(COLORS)]
        parts.append(
            f'<line x1="{x:.1f}" y1="34" x2="{x + 18:.1f}" y2="34" stroke="{color}" '
            f'stroke-width="3"/><text x="{x + 24:.1f}" y="38">{esc(label)}</text>'
        )
        x += 24 + _CHAR * len(label) + 20
    return "".join(parts) + "</g>"


def _curve(index: int, points: list[tuple[float, float]]) -> str:
    color = COLORS[index % len(COLORS)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points)
    dots = dots if len(points) <= 20 else ""  # a dense curve reads better without markers
    return (
        f'<g class="series"><polyline fill="none" stroke="{color}" stroke-width="2" '
        f'points="{path}"/>{dots}</g>'
    )
