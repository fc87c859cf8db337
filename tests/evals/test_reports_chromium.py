"""Every HTML report rendered in headless Chromium and checked as a reader would look at it.

The page is compared by structure, not pixels: the layout boxes Chromium computed say whether
axis labels exist and sit inside the page, whether a legend covers a curve, whether two labels
overlap, whether any text is cut, and whether the verdict is the largest text; the screenshot
is checked for its size and for not being blank. Chromium must be installed (no skip):
scripts/install-system-deps.sh does it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.evals import report_data
from tests.support.chromium import Browser, png_pixels, png_size

WIDTH, HEIGHT = 1000, 1400
PROBE = """(() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; };
  const texts = (svg, sel) => [...svg.querySelectorAll(sel)].map(
    t => ({cls: t.getAttribute('class') || '', text: t.textContent, box: box(t)}));
  const charts = [...document.querySelectorAll('svg')].map(svg => ({
    title: svg.getAttribute('aria-label'), box: box(svg), texts: texts(svg, 'text'),
    legend: [...svg.querySelectorAll('g.legend')].map(box),
    series: [...svg.querySelectorAll('g.series')].map(g => ({
      line: box(g.querySelector('polyline')), dots: [...g.querySelectorAll('circle')].map(box)})),
    bars: [...svg.querySelectorAll('rect.bar')].map(box),
    legendItems: [...(svg.nextElementSibling?.matches('ul.legend')
      ? svg.nextElementSibling.querySelectorAll('li') : [])].map(li => li.textContent),
  }));
  const cut = [...document.querySelectorAll('h1,h2,p,td,th,li')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 80));
  const sizes = [...document.querySelectorAll('body *')]
    .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
    .map(e => ({id: e.id, size: parseFloat(getComputedStyle(e).fontSize)}));
  const cells = [...document.querySelectorAll('td')].map(td => td.textContent);
  return {width: innerWidth, scrollWidth: document.documentElement.scrollWidth, charts, cut,
          sizes, cells, text: document.body.innerText};
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    opened = Browser(WIDTH, HEIGHT)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return report_data.write_all(tmp_path_factory.mktemp("reports"))


def _look(browser: Browser, page: Path) -> tuple[dict[str, Any], bytes, bytes]:
    session = browser.open(page)
    return (
        browser.evaluate(session, PROBE),
        browser.screenshot(session),
        browser.screenshot(session, scale=0.2),
    )


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    width = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, width) * max(0.0, height)


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["w"] <= outer["x"] + outer["w"] + 0.5
        and inner["y"] + inner["h"] <= outer["y"] + outer["h"] + 0.5
    )


def _check_chart(chart: dict[str, Any], width: float) -> None:
    name = chart["title"]
    texts = chart["texts"]
    ticks = [t for t in texts if "tick x" in t["cls"]]
    assert len(ticks) >= 2, f"{name}: no x-axis labels"
    assert any("axis-title x" in t["cls"] for t in texts), f"{name}: the x axis is not named"
    for text in texts:
        assert text["text"].strip(), f"{name}: an empty label"
        assert _inside(text["box"], chart["box"]), f"{name}: {text['text']!r} leaves the chart"
        assert text["box"]["x"] >= 0 and text["box"]["x"] + text["box"]["w"] <= width
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert _overlap(a["box"], b["box"]) < 1.0, (
                f"{name}: {a['text']!r} overlaps {b['text']!r}"
            )
    for legend in chart["legend"]:
        for series in chart["series"]:
            for shape in [series["line"], *series["dots"]]:
                assert _overlap(legend, shape) == 0.0, f"{name}: the legend covers a curve"


def _check_page(name: str, seen: dict[str, Any], shot: bytes, small: bytes) -> None:
    assert seen["scrollWidth"] <= seen["width"], f"{name}: the page scrolls sideways"
    assert seen["cut"] == [], f"{name}: text cut off: {seen['cut']}"
    assert seen["charts"], f"{name}: no charts"
    for chart in seen["charts"]:
        _check_chart(chart, seen["width"])
    for cell in seen["cells"]:
        for low, high in re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", cell):
            assert 0.0 <= float(low) <= float(high) <= 1.0, f"{name}: interval {cell} leaves [0, 1]"
    assert "drop -" not in seen["text"] and "gain -" not in seen["text"]
    assert png_size(shot) == (WIDTH, HEIGHT)
    width, height, rows = png_pixels(small)
    assert (width, height) == (WIDTH // 5, HEIGHT // 5)
    step = len(rows[0]) // width
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), step)]
    inked = sum(pixel != b"\xff\xff\xff" for pixel in pixels)
    assert inked > 0.02 * len(pixels), f"{name}: the screenshot is (nearly) blank"
    assert len(set(pixels)) > 20, f"{name}: the screenshot has almost no colours"


def _verdict_is_the_headline(name: str, seen: dict[str, Any], text: str) -> None:
    verdict = [s["size"] for s in seen["sizes"] if s["id"] == "verdict"]
    others = [s["size"] for s in seen["sizes"] if s["id"] != "verdict"]
    assert verdict and verdict[0] > max(others), f"{name}: the verdict is not the largest text"
    assert text in " ".join(seen["text"].split()), f"{name}: headline {text!r} not shown"


def test_every_report_renders_readably_in_chromium(
    browser: Browser, pages: dict[str, Path]
) -> None:
    seen = {}
    for name, page in pages.items():
        seen[name], shot, small = _look(browser, page)
        _check_page(name, seen[name], shot, small)
    job, checkpoints = report_data.JOB, report_data.CHECKPOINTS
    _verdict_is_the_headline(
        "gate", seen["gate"], f"FAIL — candidate {job} vs baseline {checkpoints[0]}"
    )
    _verdict_is_the_headline("readiness", seen["readiness"], "NO-GO — fix 1 blocking check(s)")
    _verdict_is_the_headline("demo", seen["demo"], f"PASS — candidate {job} vs baseline")
    # Three checkpoints: three different labels, each full name in the legend.
    per_model = next(c for c in seen["eval"]["charts"] if c["title"] == "mean reward per model")
    labels = [t["text"] for t in per_model["texts"] if t["cls"] == "label"]
    assert len(set(labels)) == 3, labels
    assert all(any(name in item for item in per_model["legendItems"]) for name in checkpoints)
    # Rewards share the 0..1 axis: a bar's length over the 0-to-1 span is its mean.
    for chart in seen["eval"]["charts"]:
        if chart["title"].startswith("mean reward"):
            _check_bars_on_a_common_scale(chart)
    # The validation curve starts at step 0 (the baseline), left of the first interval.
    curves = seen["demo"]["charts"][0]
    assert curves["title"] == "mean reward per step" and curves["legend"]
    assert len(curves["series"]) == 2 and any("tick y" in t["cls"] for t in curves["texts"])
    zero = next(t for t in curves["texts"] if "tick x" in t["cls"] and t["text"] == "0")
    first = curves["series"][1]["dots"][0]
    assert abs((first["x"] + first["w"] / 2) - (zero["box"]["x"] + zero["box"]["w"] / 2)) < 1.0
    assert "[0.9, 1]" in seen["eval"]["text"] and "0.95" not in seen["eval"]["text"]


def _check_bars_on_a_common_scale(chart: dict[str, Any]) -> None:
    ticks = {t["text"]: t["box"] for t in chart["texts"] if "tick x" in t["cls"]}
    assert ticks.get("0") and ticks.get("1"), chart["title"]
    centre = {k: box["x"] + box["w"] / 2 for k, box in ticks.items()}
    span = centre["1"] - centre["0"]
    values = [float(t["text"]) for t in chart["texts"] if t["cls"] == "value"]
    for bar, value in zip(chart["bars"], values, strict=True):
        assert bar["w"] == pytest.approx(value * span, abs=1.0), (chart["title"], value)
