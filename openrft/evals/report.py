"""Self-contained HTML reports (inline SVG plots, no scripts, no network) beside a JSON file."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_WIDTH, _HEIGHT, _PAD = 640, 240, 40
_COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
_STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:60em;color:#111}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}th{background:#f3f4f6}td:first-child,th:first-child{text-align:left}
.bad{color:#b91c1c;font-weight:600}.good{color:#15803d;font-weight:600}svg{display:block}"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def _scale(value: float, low: float, high: float, size: float) -> float:
    return 0.0 if high == low else (value - low) / (high - low) * size


def _frame(title: str, body: str, low: float, high: float) -> str:
    axis = (
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - 10}" y2="{_HEIGHT - _PAD}" '
        f'stroke="#999"/><text x="4" y="{_PAD}" font-size="11">{high:.3g}</text>'
        f'<text x="4" y="{_HEIGHT - _PAD}" font-size="11">{low:.3g}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{esc(title)}"><text x="{_PAD}" y="16" font-weight="600">'
        f"{esc(title)}</text>{axis}{body}</svg>"
    )


def bars(
    title: str, values: dict[str, float], *, low: float = 0.0, high: float | None = None
) -> str:
    """One bar per label (per-model or per-slice means)."""
    finite = [v for v in values.values() if math.isfinite(v)]
    top = high if high is not None else max([*finite, low + 1e-9])
    slot = (_WIDTH - _PAD - 20) / max(1, len(values))
    body = []
    for index, (label, value) in enumerate(values.items()):
        shown = value if math.isfinite(value) else low
        height = _scale(shown, low, top, _HEIGHT - 2 * _PAD)
        x = _PAD + index * slot + 4
        body.append(
            f'<rect x="{x:.1f}" y="{_HEIGHT - _PAD - height:.1f}" width="{slot - 8:.1f}" '
            f'height="{height:.1f}" fill="{_COLORS[index % len(_COLORS)]}"/>'
            f'<text x="{x:.1f}" y="{_HEIGHT - _PAD + 14}" font-size="11">{esc(label)[:24]}</text>'
            f'<text x="{x:.1f}" y="{_HEIGHT - _PAD - height - 4:.1f}" font-size="11">'
            f"{value:.3f}</text>"
        )
    return _frame(title, "".join(body), low, top)


def lines(title: str, series: dict[str, Sequence[tuple[float, float]]]) -> str:
    """Curves over steps (train and validation reward)."""
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return _frame(title, "", 0.0, 1.0)
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(0.0, *(p[1] for p in points)), max(1.0, *(p[1] for p in points))
    body = []
    for index, (label, values) in enumerate(series.items()):
        color = _COLORS[index % len(_COLORS)]
        path = " ".join(
            f"{_PAD + _scale(x, x_low, x_high, _WIDTH - _PAD - 20):.1f},"
            f"{_HEIGHT - _PAD - _scale(y, y_low, y_high, _HEIGHT - 2 * _PAD):.1f}"
            for x, y in values
            if math.isfinite(y)
        )
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        body.append(
            f'<text x="{_WIDTH - 150}" y="{30 + 14 * index}" fill="{color}">{esc(label)}</text>'
        )
    return _frame(title, "".join(body), y_low, y_high)


def histogram(title: str, values: Sequence[float], *, bins: int = 20) -> str:
    """Score distribution."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return _frame(title, "", 0.0, 1.0)
    low, high = min(finite), max(finite)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in finite:
        counts[min(bins - 1, int((value - low) / width))] += 1
    labels = {f"{low + i * width:.2f}": float(c) for i, c in enumerate(counts)}
    return bars(title, labels)


def table(rows: Sequence[dict[str, Any]], *, marks: dict[str, str] | None = None) -> str:
    """An HTML table; `marks` maps a cell text to a CSS class (e.g. "FAIL" → "bad")."""
    if not rows:
        return "<p>(none)</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c), marks or {}) for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any, marks: dict[str, str]) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    css = marks.get(text)
    return f'<td class="{css}">{esc(text)}</td>' if css else f"<td>{esc(text)}</td>"


def write_report(
    path: Path, title: str, sections: Sequence[tuple[str, str]], data: dict[str, Any]
) -> tuple[Path, Path]:
    """Write `path` (.html) and its twin .json; returns both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"<h2>{esc(heading)}</h2>{content}" for heading, content in sections)
    page = (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style><body><h1>{esc(title)}</h1>{body}</body></html>"
    )
    html_path = path.with_suffix(".html")
    json_path = path.with_suffix(".json")
    html_path.write_text(page, encoding="utf-8")
    json_path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return html_path, json_path
