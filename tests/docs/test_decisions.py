"""Every decision id the code or the docs cite (`decision D4`, `J2`, `spec C4`…) is defined in
docs/decisions.md, as a bullet that opens with it in bold (`- **D4. …**`)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.blocks import ROOT

DECISIONS = ROOT / "docs" / "decisions.md"
# T templating, G graders, D data, J jobs, H HTTP, E evals; A and C are the sandbox spec's
# sections. Not ids: L2 (the norm), R1 (DeepSeek-R1), M2 (a placeholder), Z95 (a constant).
_ID = re.compile(r"(?<![\w-])([TGDJHEAC]\d{1,2})(?![\w-])")
_DEFINED = re.compile(r"^- \*\*([A-Z]\d{1,2})[. ]", re.M)


def cited(paths: list[Path]) -> dict[str, list[str]]:
    """id -> the files citing it."""
    found: dict[str, list[str]] = {}
    for path in paths:
        for decision in sorted(set(_ID.findall(path.read_text(encoding="utf-8")))):
            found.setdefault(decision, []).append(path.relative_to(ROOT).as_posix())
    return found


def defined() -> list[str]:
    return _DEFINED.findall(DECISIONS.read_text(encoding="utf-8"))


def _sources() -> list[Path]:
    pages = [p for p in (ROOT / "docs").glob("*.md") if p != DECISIONS]
    return sorted((ROOT / "openrft").rglob("*.py")) + sorted(pages) + [ROOT / "README.md"]


def test_every_cited_decision_is_defined() -> None:
    missing = {k: v for k, v in cited(_sources()).items() if k not in defined()}
    assert not missing, f"define these in docs/decisions.md: {missing}"


def test_each_decision_is_defined_once() -> None:
    ids = defined()
    assert len(ids) > 30 and len(ids) == len(set(ids))


def test_the_reader_finds_ids_and_skips_names(tmp_path: Path) -> None:
    page = tmp_path / "x.md"
    page.write_text("decision D4 (J2; G10), spec C4, DeepSeek-R1, L2-normalised, D4x, M2, H1.")
    assert _ID.findall(page.read_text()) == ["D4", "J2", "G10", "C4", "H1"]
