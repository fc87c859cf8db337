"""The data lint's checks. Each takes parsed rows and adds findings to a `LintReport`.

Rows arrive as `Split`s: a name (`train`/`valid`) and (line number, row) pairs that already
passed the JSONL and row rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openrft.data.dedup import exact_groups, near_groups
from openrft.data.prompts import prompt_chars, prompt_key, user_text
from openrft.data.refs import ItemRef
from openrft.data.report import FieldBalance, LintReport, Location
from openrft.graders import VariableError, to_text

SHOWN = 20
EDGE_TAGS = ("edge", "refusal")


@dataclass
class Split:
    name: str
    rows: list[tuple[int, dict[str, Any]]]


def _flat(splits: Sequence[Split]) -> list[Location]:
    return [Location(split.name, line) for split in splits for line, _ in split.rows]


def _lines(group: list[Location]) -> str:
    return ", ".join(f"{place.split}:{place.line}" for place in group[:6])


def _report_groups(
    report: LintReport, groups: list[list[Location]], kind: str, code: str, severity: Any
) -> None:
    """One finding per kind: how many groups, an example, what to do."""
    if not groups:
        return
    rows = sum(map(len, groups))
    where = [place for group in groups[:SHOWN] for place in group[:3]]
    cross = code.endswith("leakage")
    advice = (
        "the validation set then measures memory, not skill: drop them from one side"
        if cross
        else "they weigh those prompts more in training: remove or merge them"
    )
    report.add(
        severity,
        code,
        f"{len(groups)} {kind} group{'s' if len(groups) > 1 else ''} ({rows} rows), "
        f"e.g. {_lines(groups[0])}; {advice}",
        where,
    )


def check_duplicates(report: LintReport, splits: Sequence[Split], threshold: float) -> None:
    """Exact (normalised-equal) and near-duplicate prompts, inside and across splits."""
    places = _flat(splits)
    rows = [row for split in splits for _, row in split.rows]
    exact = exact_groups([prompt_key(r) for r in rows])
    near = near_groups([user_text(row) for row in rows], threshold=threshold)
    report_duplicates(report, places, exact, near)


def report_duplicates(
    report: LintReport, places: Sequence[Location], exact: list[list[int]], near: list[list[int]]
) -> None:
    """Findings for groups of row indices (`places[i]` is row i's split and line); a near
    group that is also an exact one is said once."""
    exact_places = [[places[i] for i in group] for group in exact]
    exact_ids = {frozenset(place for place in group) for group in exact_places}
    near_places = [[places[i] for i in group] for group in near]
    near_places = [group for group in near_places if frozenset(group) not in exact_ids]
    for groups, kind, level in ((exact_places, "duplicate-prompt", 0),
                                (near_places, "near-duplicate", 1)):  # fmt: skip
        inside = [group for group in groups if len({place.split for place in group}) == 1]
        across = [group for group in groups if len({place.split for place in group}) > 1]
        code = "duplicate_prompt" if level == 0 else "near_duplicate"
        _report_groups(report, inside, kind, code, ("warning", "info")[level])
        leak = "leakage" if level == 0 else "near_leakage"
        _report_groups(report, across, f"train/valid {kind}", leak, ("error", "warning")[level])


def percentiles(values: Sequence[int]) -> dict[str, int]:
    if not values:
        return {}
    p50, p95 = np.percentile(values, [50, 95], method="nearest")
    return {"min": int(min(values)), "p50": int(p50), "p95": int(p95), "max": int(max(values))}


def prompt_lengths(split: Split) -> dict[str, int]:
    return percentiles([prompt_chars(row) for _, row in split.rows])


def tag_shares(report: LintReport, split: Split) -> dict[str, float]:
    """Share of rows tagged `edge` / `refusal` (a `tags` list of strings, our convention)."""
    tally = TagTally()
    for line, row in split.rows:
        tally.add(line, row)
    return tally.shares(report, split.name, len(split.rows))


class TagTally:
    """Tag counts and malformed `tags`, a row at a time."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.malformed = 0
        self.shown: list[int] = []
        """Lines of the first `SHOWN` malformed rows."""

    def add(self, line: int, row: dict[str, Any]) -> None:
        tags = row.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            self.malformed += 1
            if len(self.shown) < SHOWN:
                self.shown.append(line)
            return
        self.counts.update(set(tags) & set(EDGE_TAGS))

    def shares(self, report: LintReport, name: str, rows: int) -> dict[str, float]:
        if self.malformed:
            report.add(
                "warning",
                "malformed_tags",
                f"{self.malformed} rows in {name} have 'tags' that is not a list of strings "
                f'(e.g. line {self.shown[0]}); write it as ["edge"] or ["refusal"]',
                [Location(name, line) for line in self.shown],
            )
        total = max(1, rows)
        return {tag: round(self.counts[tag] / total, 4) for tag in EDGE_TAGS}


def check_refs(report: LintReport, split: Split, refs: list[ItemRef], label: str) -> None:
    """D3: every `item.…` reference of the grader resolves in every row."""
    for item_ref in refs:
        tally = RefTally(item_ref)
        for line, row in split.rows:
            tally.add(line, row)
        tally.report(report, split.name, label)


class RefTally:
    """The rows where one reference does not resolve, a row at a time."""

    def __init__(self, item_ref: ItemRef):
        self.item_ref = item_ref
        self.failed = 0
        self.shown: list[int] = []
        """Lines of the first `SHOWN` rows where it failed."""
        self.reason = ""

    def add(self, line: int, row: dict[str, Any]) -> None:
        try:
            self.item_ref.ref.resolve(None, row)
        except VariableError as exc:
            self.failed += 1
            if len(self.shown) < SHOWN:
                self.shown.append(line)
            self.reason = self.reason or str(exc)

    def report(self, report: LintReport, name: str, label: str) -> None:
        if not self.failed:
            return
        lines = ", ".join(str(line) for line in self.shown[:10])
        more = f" and {self.failed - 10} more" if self.failed > 10 else ""
        noun = "line" if self.failed == 1 else "lines"
        report.add(
            "error",
            "template_error",
            f"{self.item_ref.field} reads {self.reason} in {label} {noun} {lines}{more}; "
            "add the field to those rows or change the grader",
            [Location(name, line) for line in self.shown],
        )


def value_counts(split: Split, item_ref: ItemRef) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _, row in split.rows:
        count_value(counts, item_ref, row)
    return counts


def count_value(counts: Counter[str], item_ref: ItemRef, row: dict[str, Any]) -> None:
    try:
        counts[to_text(item_ref.ref.resolve(None, row))] += 1
    except VariableError:
        return


def _categorical(counts: Counter[str]) -> bool:
    total = sum(counts.values())
    return total >= 2 and 1 < len(counts) <= 20 and len(counts) <= total / 2


def check_balance(
    report: LintReport, splits: Sequence[Split], refs: list[ItemRef], minority: float = 0.05
) -> None:
    """Class balance of each categorical reference field the grader compares against."""
    for item_ref in refs:
        counts = {split.name: value_counts(split, item_ref) for split in splits}
        report_balance(report, item_ref, counts, splits[0].name, minority)


def report_balance(
    report: LintReport,
    item_ref: ItemRef,
    counts: dict[str, Counter[str]],
    first: str,
    minority: float = 0.05,
) -> None:
    """`counts`: per split, value → rows; `first` names the training split."""
    train = counts[first]
    if not _categorical(train):
        return
    path = item_ref.text
    report.balance.append(FieldBalance(path, {k: dict(v) for k, v in counts.items()}))
    _balance_findings(report, path, train, counts.get("valid"), minority)


def _balance_findings(
    report: LintReport,
    path: str,
    train: Counter[str],
    valid: Counter[str] | None,
    minority: float,
) -> None:
    total = sum(train.values())
    value, top = train.most_common(1)[0]
    if top / total > 0.8:
        report.add(
            "warning",
            "class_imbalance",
            f"{path}: {value!r} is {top / total:.0%} of training rows; a policy that always "
            "answers it scores high. Add rows of the other classes or downsample this one",
        )
    rare = [name for name, count in train.items() if count / total < minority]
    if rare:
        report.add(
            "warning",
            "rare_class",
            f"{path}: {', '.join(map(repr, rare[:5]))} under {minority:.0%} of training rows; "
            "the model sees too few to learn them. Add examples",
        )
    if valid is not None and (missing := sorted(set(train) - set(valid))):
        report.add(
            "warning",
            "class_missing_in_valid",
            f"{path}: {', '.join(map(repr, missing[:5]))} never appears in validation; "
            "its accuracy will not be measured. Split with --stratify",
        )
