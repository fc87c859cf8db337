"""`openrft data lint`: what a person should know about an RFT dataset before training on it.

    lint_files(train, valid, grader) -> LintReport   (reads the files, once, row by row)
    lint_splits(splits, grader)      -> LintReport   (rows already parsed; reused by evals)

Findings carry a severity: `error` (the job would fail or the numbers would lie: unreadable
rows, limits, train/valid leakage, grader references that do not resolve), `warning`
(duplicates, class imbalance, malformed tags), `info` (statistics and suggestions).

`lint_files` streams: each row is checked and tallied as it is read, then dropped; what stays is
per row a 16-byte prompt digest, a MinHash signature, its line and its length (about 0.6 KiB),
and per split the counts the findings need. Its findings are those `lint_splits` gives.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from openrft.data import checks
from openrft.data.checks import RefTally, Split, TagTally
from openrft.data.dedup import ExactIndex, NearIndex
from openrft.data.jsonl import iter_records
from openrft.data.prompts import prompt_chars, prompt_key, user_text
from openrft.data.refs import ItemRef, item_refs
from openrft.data.report import LintReport, Location, SplitStats
from openrft.data.validate import MAX_TRAIN_ROWS, MAX_VALID_ROWS, limit_problem, row_problem
from openrft.errors import DataFileError
from openrft.graders import AnyGrader

__all__ = ["LintReport", "lint_files", "lint_splits"]

_TEXTS_PER_BATCH = 1024
"""Prompts tokenized and signed together for the near-duplicate index."""


def lint_files(
    train: Path,
    valid: Path | None = None,
    grader: AnyGrader | dict[str, Any] | None = None,
    *,
    max_train: int = MAX_TRAIN_ROWS,
    max_valid: int = MAX_VALID_ROWS,
    near_threshold: float = 0.8,
) -> LintReport:
    report = LintReport()
    refs = item_refs(grader) if grader is not None else None
    seen = _Seen()
    tallies = [_read(report, "train", train, refs, seen)]
    if valid is not None:
        tallies.append(_read(report, "valid", valid, refs, seen))
    limits = {"train": max_train, "valid": max_valid}
    for tally in tallies:
        _size_findings(report, tally.stats, tally.name, tally.rows, limits[tally.name])
        tags = tally.tags.shares(report, tally.name, tally.rows)
        chars = checks.percentiles(tally.chars)
        _edge_findings(report, tally.stats, tally.name, tally.rows, chars, tags)
    _no_validation(report, len(tallies))
    places = _Places([(tally.name, tally.lines) for tally in tallies])
    checks.report_duplicates(report, places, seen.exact.groups(), seen.near.groups(near_threshold))
    if refs is not None:
        for tally in tallies:
            for ref_tally in tally.refs:
                ref_tally.report(report, tally.name, tally.stats.path or tally.name)
        for index, item_ref in enumerate(_answer_refs(refs)):
            counts = {tally.name: tally.values[index] or Counter() for tally in tallies}
            if tallies[0].values[index] is not None:  # else more than 20 values: no classes
                checks.report_balance(report, item_ref, counts, "train")
    return report


class _Seen:
    """Every split's prompts, for duplicates inside and across splits."""

    def __init__(self) -> None:
        self.exact = ExactIndex()
        self.near = NearIndex()


@dataclass
class _Tally:
    """What a split's findings need, gathered row by row."""

    name: str
    stats: SplitStats
    refs: list[RefTally]
    values: list[Counter[str] | None]
    """Per answer reference, value → rows; None once the training split has too many values
    to be classes (it could never be categorical again)."""
    rows: int = 0
    lines: array[int] = field(default_factory=lambda: array("q"))
    chars: array[int] = field(default_factory=lambda: array("q"))
    tags: TagTally = field(default_factory=TagTally)

    def add(self, line: int, row: dict[str, Any], answers: list[ItemRef]) -> None:
        self.rows += 1
        self.lines.append(line)
        self.chars.append(prompt_chars(row))
        self.tags.add(line, row)
        for ref_tally in self.refs:
            ref_tally.add(line, row)
        for index, item_ref in enumerate(answers):
            counts = self.values[index]
            if counts is not None:
                checks.count_value(counts, item_ref, row)
                if self.name == "train" and len(counts) > 20:
                    self.values[index] = None


def _read(
    report: LintReport, name: str, path: Path, refs: list[ItemRef] | None, seen: _Seen
) -> _Tally:
    answers = _answer_refs(refs or [])
    stats = SplitStats(name, str(path), 0, 0, 0)
    tally = _Tally(name, stats, [RefTally(r) for r in refs or []], [Counter() for _ in answers])
    bad = 0
    texts: list[str] = []
    for line, row in iter_records(path):
        if not isinstance(row, DataFileError) and (problem := row_problem(row)):
            row = DataFileError(problem, path=str(path), line=line)
        if isinstance(row, DataFileError):
            bad += 1
            if bad <= checks.SHOWN:
                report.add("error", "invalid_row", row.message, [Location(name, row.line)]
                           if row.line else [])  # fmt: skip
            continue
        tally.add(line, row, answers)
        seen.exact.add(bytes.fromhex(prompt_key(row)))
        texts.append(user_text(row))
        if len(texts) == _TEXTS_PER_BATCH:
            seen.near.add(texts)
            texts = []
    seen.near.add(texts)
    if bad > checks.SHOWN:
        report.add(
            "error", "invalid_row", f"{path}: {bad - checks.SHOWN} more bad lines not listed"
        )
    stats.rows, stats.bad_rows = tally.rows, bad
    report.splits.append(stats)
    return tally


class _Places(Sequence[Location]):
    """Row i of all splits in order (train, then valid) as its split and line, built when
    read: a finding names a few dozen rows, the index holds every row."""

    def __init__(self, splits: list[tuple[str, array[int]]]):
        self.splits = splits

    def __len__(self) -> int:
        return sum(len(lines) for _, lines in self.splits)

    def __getitem__(self, index: Any) -> Any:
        for name, lines in self.splits:
            if index < len(lines):
                return Location(name, lines[index])
            index -= len(lines)
        raise IndexError(index)


def lint_splits(
    splits: list[Split],
    grader: AnyGrader | dict[str, Any] | None = None,
    *,
    report: LintReport | None = None,
    paths: dict[str, str] | None = None,
    limits: dict[str, int] | None = None,
    near_threshold: float = 0.8,
) -> LintReport:
    """Every check over rows that already parsed. `splits[0]` is the training split."""
    report = report or LintReport()
    limits = limits or {"train": MAX_TRAIN_ROWS, "valid": MAX_VALID_ROWS}
    for split in splits:
        stats = _stats(report, split, (paths or {}).get(split.name))
        limit = limits.get(split.name, MAX_TRAIN_ROWS)
        _size_findings(report, stats, split.name, len(split.rows), limit)
        chars = checks.prompt_lengths(split)
        tags = checks.tag_shares(report, split)
        _edge_findings(report, stats, split.name, len(split.rows), chars, tags)
    _no_validation(report, len(splits))
    checks.check_duplicates(report, splits, near_threshold)
    if grader is not None:
        refs = item_refs(grader)
        for split in splits:
            checks.check_refs(report, split, refs, (paths or {}).get(split.name, split.name))
        checks.check_balance(report, splits, _answer_refs(refs))
    return report


def _no_validation(report: LintReport, splits: int) -> None:
    if splits == 1:
        report.add(
            "info",
            "no_validation_file",
            "no validation file: a job takes a deterministic 10% of training (at most 1,000 rows) "
            "with its seed; `openrft data split` makes the same kind of split ahead of time",
        )


def _kind(name: str) -> Literal["train", "valid"]:
    return "valid" if name == "valid" else "train"


def _answer_refs(refs: list[ItemRef]) -> list[ItemRef]:
    """`item.messages…` and `item.tools…` are the prompt, not a reference answer."""
    return [
        ref for ref in refs if not (ref.ref.steps and ref.ref.steps[0] in ("messages", "tools"))
    ]


def _stats(report: LintReport, split: Split, path: str | None) -> SplitStats:
    for stats in report.splits:
        if stats.split == split.name:
            return stats
    stats = SplitStats(split.name, path, len(split.rows), 0, 0)
    report.splits.append(stats)
    return stats


def _size_findings(report: LintReport, stats: SplitStats, name: str, rows: int, limit: int) -> None:
    """A split's size against its limit (said before the split's other findings)."""
    stats.limit = limit
    label = stats.path or name
    if not rows:
        report.add("error", "empty_split", f"{label} has no usable rows")
    elif problem := limit_problem(rows, _kind(name), limit):
        report.add("error", "too_many_rows", f"{label}: {problem}; trim it or raise the limit")
    elif name == "train" and rows < 10:
        report.add(
            "warning",
            "few_rows",
            f"{label}: only {rows} training rows; a few dozen at least is usual",
        )


def _edge_findings(
    report: LintReport, stats: SplitStats, name: str, rows: int, chars: dict[str, int],
    tags: dict[str, float],
) -> None:  # fmt: skip
    stats.prompt_chars = chars
    stats.tag_shares = tags
    if name == "train" and rows and not any(tags.values()):
        report.add(
            "info",
            "no_edge_cases",
            f"{stats.path or name}: no rows tagged 'edge' or 'refusal'; tagging them "
            '("tags": ["edge"]) lets the lint and evals show how much of the data covers hard '
            "cases",
        )
