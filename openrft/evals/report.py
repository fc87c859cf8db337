"""Self-contained HTML reports (inline SVG charts, no scripts, no network) beside a JSON file.

A report with a decision (gate, readiness) opens with it as the page's headline, the largest text
on the page, saying what was decided about what; the charts live in `openrft.evals.charts`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

_STYLE = """body{font:14px system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;
color:#111;overflow-wrap:break-word}h1{font-size:1.6em}h2{font-size:1.25em}
.kind{margin:0;color:#555;font-size:1em}
.verdict{font-size:2.2em;margin:.2em 0 .4em;padding:.2em .5em;border-left:.3em solid}
.verdict.good{color:#14532d;background:#dcfce7;border-color:#15803d}
.verdict.bad{color:#7f1d1d;background:#fee2e2;border-color:#b91c1c}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;
padding:4px 8px;text-align:right}th{background:#f3f4f6}
.text{text-align:left}
.bad{color:#b91c1c;font-weight:600}.good{color:#15803d;font-weight:600}
.warn{color:#a16207;font-weight:600}svg{display:block;max-width:100%}
.legend{list-style:none;padding:0;margin:.3em 0 1em;font-size:12px;overflow-wrap:anywhere}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em}"""


@dataclass
class Headline:
    """A report's decision: `text` says what was decided about what ("PASS — candidate X vs
    baseline Y"), `reasons` why, shown under it."""

    text: str
    tone: Literal["good", "bad"]
    reasons: list[str] = field(default_factory=list)

    def render(self) -> str:
        why = "".join(f"<li>{esc(reason)}</li>" for reason in self.reasons)
        listed = f'<ul class="reasons">{why}</ul>' if why else ""
        text = breakable(self.text)
        return f'<p class="verdict {self.tone}" id="verdict">{text}</p>{listed}'


def esc(value: Any) -> str:
    return html.escape(str(value))


def breakable(value: Any) -> str:
    """Escaped, with line-break chances after `:` and `/`, so a long model name or path wraps
    between its parts (a table column as wide as its longest part, no word cut in two)."""
    return esc(value).replace(":", ":<wbr>").replace("/", "/<wbr>")


def table(rows: Sequence[dict[str, Any]], *, marks: dict[str, str] | None = None) -> str:
    """An HTML table; `marks` maps a cell text to a CSS class (e.g. "FAIL" → "bad"). Columns of
    text align left, columns of numbers right."""
    if not rows:
        return "<p>(none)</p>"
    columns = list(rows[0])
    text = {c for c in columns if all(isinstance(row.get(c), str) for row in rows)}
    head = "".join(f"<th{_class({'text' if c in text else ''})}>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c), marks or {}, c in text) for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _class(names: set[str]) -> str:
    return f' class="{" ".join(sorted(n for n in names if n))}"' if any(names) else ""


def _cell(value: Any, marks: dict[str, str], text: bool) -> str:
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    css = {marks.get(shown, ""), "text" if text else ""}
    return f"<td{_class(css)}>{breakable(shown)}</td>"


def write_report(
    path: Path,
    title: str,
    sections: Sequence[tuple[str, str]],
    data: dict[str, Any],
    *,
    headline: Headline | None = None,
) -> tuple[Path, Path]:
    """Write `path` (.html) and its twin .json; returns both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"<h2>{breakable(heading)}</h2>{content}" for heading, content in sections)
    top = f'<p class="kind">{esc(title)}</p>{headline.render()}' if headline else ""
    top = top or f"<h1>{esc(title)}</h1>"
    page = (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style><body>{top}{body}</body></html>"
    )
    html_path = path.with_suffix(".html")
    json_path = path.with_suffix(".json")
    html_path.write_text(page, encoding="utf-8")
    json_path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return html_path, json_path
