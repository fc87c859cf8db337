"""`openrft data lint`: what a person should know about an RFT dataset before training on it.

    lint_files(train, valid, grader) -> LintReport   (reads the files)
    lint_splits(splits, grader)      -> LintReport   (rows already parsed; reused by evals)

Findings carry a severity: `error` (the job would fail or the numbers would lie: unreadable
rows, limits, train/valid leakage, grader references that do not resolve), `warning`
(duplicates, class imbalance, malformed tags), `info` (statistics and suggestions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from openrft.data import checks
from openrft.data.checks import Split
from openrft.data.refs import ItemRef, item_refs
from openrft.data.report import LintReport, Location, SplitStats
from openrft.data.validate import MAX_TRAIN_ROWS, MAX_VALID_ROWS, limit_problem, scan_file
from openrft.graders import AnyGrader

__all__ = ["LintReport", "lint_files", "lint_splits"]


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
    splits = [_read(report, "train", train)]
    paths = {"train": str(train)}
    if valid is not None:
        splits.append(_read(report, "valid", valid))
        paths["valid"] = str(valid)
    return lint_splits(
        splits,
        grader,
        report=report,
        paths=paths,
        limits={"train": max_train, "valid": max_valid},
        near_threshold=near_threshold,
    )


def _read(report: LintReport, name: str, path: Path) -> Split:
    rows, errors = scan_file(path, max_errors=10**9)  # all counted, the first few listed
    for error in errors[: checks.SHOWN]:
        where = [Location(name, error.line)] if error.line else []
        report.add("error", "invalid_row", error.message, where)
    if len(errors) > checks.SHOWN:
        more = len(errors) - checks.SHOWN
        report.add("error", "invalid_row", f"{path}: {more} more bad lines not listed")
    report.splits.append(SplitStats(name, str(path), len(rows), len(errors), 0))
    return Split(name, rows)


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
        _split_checks(report, split, limits.get(split.name, MAX_TRAIN_ROWS), paths or {})
    if len(splits) == 1:
        report.add(
            "info",
            "no_validation_file",
            "no validation file: a job takes a deterministic 10% of training (at most 1,000 rows) "
            "with its seed; `openrft data split` makes the same kind of split ahead of time",
        )
    checks.check_duplicates(report, splits, near_threshold)
    if grader is not None:
        refs = item_refs(grader)
        for split in splits:
            checks.check_refs(report, split, refs, (paths or {}).get(split.name, split.name))
        checks.check_balance(report, splits, [ref for ref in refs if not _is_prompt(ref)])
    return report


def _kind(split: Split) -> Literal["train", "valid"]:
    return "valid" if split.name == "valid" else "train"


def _is_prompt(ref: ItemRef) -> bool:
    """`item.messages…` and `item.tools…` are the prompt, not a reference answer."""
    steps = ref.ref.steps
    return bool(steps) and steps is not None and steps[0] in ("messages", "tools")


def _stats(report: LintReport, split: Split, limit: int, path: str | None) -> SplitStats:
    for stats in report.splits:
        if stats.split == split.name:
            stats.limit = limit
            return stats
    stats = SplitStats(split.name, path, len(split.rows), 0, limit)
    report.splits.append(stats)
    return stats


def _split_checks(report: LintReport, split: Split, limit: int, paths: dict[str, str]) -> None:
    stats = _stats(report, split, limit, paths.get(split.name))
    label = stats.path or split.name
    if not split.rows:
        report.add("error", "empty_split", f"{label} has no usable rows")
    elif problem := limit_problem(len(split.rows), _kind(split), limit):
        report.add("error", "too_many_rows", f"{label}: {problem}; trim it or raise the limit")
    elif split.name == "train" and len(split.rows) < 10:
        report.add(
            "warning",
            "few_rows",
            f"{label}: only {len(split.rows)} training rows; a few dozen at least is usual",
        )
    stats.prompt_chars = checks.prompt_lengths(split)
    stats.tag_shares = checks.tag_shares(report, split)
    if split.name == "train" and split.rows and not any(stats.tag_shares.values()):
        report.add(
            "info",
            "no_edge_cases",
            f"{label}: no rows tagged 'edge' or 'refusal'; tagging them (\"tags\": [\"edge\"]) "
            "lets the lint and evals show how much of the data covers hard cases",
        )
