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
    exact = [[places[i] for i in group] for group in exact_groups([prompt_key(r) for r in rows])]
    exact_ids = {frozenset(place for place in group) for group in exact}
    near = [
        [places[i] for i in group]
        for group in near_groups([user_text(row) for row in rows], threshold=threshold)
    ]
    near = [group for group in near if frozenset(group) not in exact_ids]
    for groups, kind, level in ((exact, "duplicate-prompt", 0), (near, "near-duplicate", 1)):
        inside = [group for group in groups if len({place.split for place in group}) == 1]
        across = [group for group in groups if len({place.split for place in group}) > 1]
        code = "duplicate_prompt" if level == 0 else "near_duplicate"
        _report_groups(report, inside, kind, code, ("warning", "info")[level])
        leak = "leakage" if level == 0 else "near_leakage"
        _report_groups(report, across, f"train/valid {kind}", leak, ("error", "warning")[level])


def _percentiles(values: list[int]) -> dict[str, int]:
    if not values:
        return {}
    p50, p95 = np.percentile(values, [50, 95], method="nearest")
    return {"min": min(values), "p50": int(p50), "p95": int(p95), "max": max(values)}


def prompt_lengths(split: Split) -> dict[str, int]:
    return _percentiles([prompt_chars(row) for _, row in split.rows])


def tag_shares(report: LintReport, split: Split) -> dict[str, float]:
    """Share of rows tagged `edge` / `refusal` (a `tags` list of strings, our convention)."""
    counts: Counter[str] = Counter()
    malformed = []
    for line, row in split.rows:
        tags = row.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            malformed.append(Location(split.name, line))
            continue
        counts.update(set(tags) & set(EDGE_TAGS))
    if malformed:
        report.add(
            "warning",
            "malformed_tags",
            f"{len(malformed)} rows in {split.name} have 'tags' that is not a list of strings "
            f'(e.g. line {malformed[0].line}); write it as ["edge"] or ["refusal"]',
            malformed[:SHOWN],
        )
    total = max(1, len(split.rows))
    return {tag: round(counts[tag] / total, 4) for tag in EDGE_TAGS}


def check_refs(report: LintReport, split: Split, refs: list[ItemRef], label: str) -> None:
    """D3: every `item.…` reference of the grader resolves in every row."""
    for item_ref in refs:
        failed = []
        reason = ""
        for line, row in split.rows:
            try:
                item_ref.ref.resolve(None, row)
            except VariableError as exc:
                failed.append(Location(split.name, line))
                reason = reason or str(exc)
        if failed:
            lines = ", ".join(str(place.line) for place in failed[:10])
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            noun = "line" if len(failed) == 1 else "lines"
            report.add(
                "error",
                "template_error",
                f"{item_ref.field} reads {reason} in {label} {noun} {lines}{more}; "
                "add the field to those rows or change the grader",
                failed[:SHOWN],
            )


def value_counts(split: Split, item_ref: ItemRef) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _, row in split.rows:
        try:
            counts[to_text(item_ref.ref.resolve(None, row))] += 1
        except VariableError:
            continue
    return counts


def _categorical(counts: Counter[str]) -> bool:
    total = sum(counts.values())
    return total >= 2 and 1 < len(counts) <= 20 and len(counts) <= total / 2


def check_balance(
    report: LintReport, splits: Sequence[Split], refs: list[ItemRef], minority: float = 0.05
) -> None:
    """Class balance of each categorical reference field the grader compares against."""
    for item_ref in refs:
        counts = {split.name: value_counts(split, item_ref) for split in splits}
        train = counts[splits[0].name]
        if not _categorical(train):
            continue
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
