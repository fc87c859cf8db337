"""`openrft judge-check`: does a grader (usually a model judge) agree with people?

Input: rows a person has already scored, `{"item": {...}, "sample": ..., "human": <score>}`
(for a `label_model` grader `human` is one of its labels). The grader grades every row as it
would in training; this module compares what it gave with what the person gave:

- Spearman's ρ between the grader's reward and the human score (for labels: the reward the
  human's label implies, 1 for a passing label, else 0), average ranks for ties, with a 95%
  interval by Fisher's z and the Fieller–Hartley–Pearson variance 1.06 / (n − 3);
- exact agreement (the grader's score rounds to the human's, `|g − h| < 0.5`; the same label
  for labels) and, for scores on a scale wider than 1, agreement within 1 (`|g − h| ≤ 1`), each
  with a Wilson 95% interval;
- for labels, the confusion table (human label × judge label) and Cohen's κ.

Rows whose grading failed (an error flag) are counted and left out of the agreement: an
unanswered row is no evidence either way. Everything here is a pure function of lists except
`acheck_judge`/`check_judge`, which run the grader; training can call them on a small labelled
set with its own `GraderContext`.

The rule (`JudgeRule`, used by `judge-check`'s verdict and by readiness): go when ρ ≥ 0.8 on at
least 50 compared rows (Azure's rule of thumb); no-go below it, or, on fewer rows, when even the
top of ρ's interval is below it; otherwise the evidence is insufficient (warn).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from openrft.errors import DataFileError, InvalidRequestError
from openrft.evals.stats import Z95, mean, wilson
from openrft.graders import (
    AnyGrader,
    GraderContext,
    GradeResult,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    Sample,
    ScoreModelGrader,
    agrade_many,
    display_name,
    grade_many,
)

Status = Literal["go", "warn", "no-go"]
ROW_KEYS = frozenset({"item", "sample", "human"})
SPEARMAN_VARIANCE = 1.06
"""Fieller, Hartley & Pearson (1957): var(atanh ρ_s) ≈ 1.06 / (n − 3) for Spearman's ρ."""


@dataclass
class JudgeRule:
    """When a judge's agreement with people is enough to train on."""

    min_rho: float = 0.8
    """Least Spearman's ρ between the judge and the people's scores."""
    min_samples: int = 50
    """Least compared rows for the ρ to count as evidence."""


@dataclass
class LabelledRow:
    sample: Sample
    item: dict[str, Any]
    human: float | str
    """The person's score (a number), or their label for a `label_model` grader."""
    line: int | None = None


@dataclass
class Rate:
    agree: int
    total: int
    rate: float | None
    """`agree / total`; None for no rows."""
    ci: tuple[float, float] | None


@dataclass
class JudgeCheck:
    grader: str
    grader_type: str
    rows: int
    """Labelled rows given."""
    errored: int
    """Rows the grader failed on (left out of every number below)."""
    n: int
    """Rows compared: `rows - errored`."""
    spearman: float | None
    """Spearman's ρ; None below 2 rows or when either side gives every row the same score."""
    spearman_ci: tuple[float, float] | None
    exact: Rate
    within_one: Rate | None
    """Only for scores on a scale wider than 1."""
    confusion: dict[str, dict[str, int]] | None = None
    """Label graders: `confusion[human_label][judge_label]` = rows."""
    kappa: float | None = None
    pairs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """Per row: line, human, judge (score or label), reward, error."""
    spec: dict[str, Any] = field(default_factory=dict, repr=False)
    """The grader JSON checked (readiness compares it with the grader it is asked about)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading the labelled rows ------------------------------------------------------------


def parse_row(grader: AnyGrader, row: dict[str, Any], path: str, line: int) -> LabelledRow:
    """One labelled row, checked; a `DataFileError` naming the line otherwise."""
    unknown, missing = set(row) - ROW_KEYS, {"sample", "human"} - set(row)
    if unknown or missing:
        extra = f" (missing: {', '.join(sorted(missing))})" if missing else ""
        extra += f" (unexpected: {', '.join(sorted(unknown))})" if unknown else ""
        raise DataFileError(
            f'each row is {{"item": {{...}}, "sample": ..., "human": ...}}{extra}',
            path=path,
            line=line,
        )
    item = row.get("item", {})
    if not isinstance(item, dict):
        raise DataFileError('"item" must be an object', path=path, line=line)
    try:
        sample = Sample.coerce(row["sample"])
    except TypeError as exc:
        raise DataFileError(f'"sample": {exc}', path=path, line=line) from None
    return LabelledRow(sample, item, _human(grader, row["human"], path, line), line)


def _human(grader: AnyGrader, value: Any, path: str, line: int) -> float | str:
    if isinstance(grader, LabelModelGrader):
        if not isinstance(value, str) or value not in grader.labels:
            raise DataFileError(
                f'"human" must be one of the grader\'s labels {grader.labels}, got {value!r}',
                path=path,
                line=line,
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataFileError(f'"human" must be a finite number, got {value!r}', path=path, line=line)
    return float(value)


# --- running the grader -------------------------------------------------------------------


async def acheck_judge(
    rows: Sequence[LabelledRow], grader: AnyGrader, *, context: GraderContext | None = None
) -> JudgeCheck:
    """Grade every labelled row with `grader` and compare (for callers inside a loop)."""
    report = await agrade_many(grader, [(r.sample, r.item) for r in rows], context=context)
    return agreement(grader, rows, report.results.rows())


def check_judge(
    rows: Sequence[LabelledRow],
    grader: AnyGrader,
    *,
    context: GraderContext | None = None,
    concurrency: int = 32,
) -> JudgeCheck:
    report = grade_many(
        grader, [(r.sample, r.item) for r in rows], context=context, concurrency=concurrency
    )
    return agreement(grader, rows, report.results.rows())


# --- agreement ----------------------------------------------------------------------------


def agreement(
    grader: AnyGrader, rows: Sequence[LabelledRow], results: Sequence[GradeResult]
) -> JudgeCheck:
    pairs = [_pair(grader, row, result) for row, result in zip(rows, results, strict=True)]
    good = [(row, result) for row, result in zip(rows, results, strict=True) if result.ok]
    humans = [_human_reward(grader, row.human) for row, _ in good]
    judged = [result.reward for _, result in good]
    rho = spearman(humans, judged)
    check = JudgeCheck(
        grader=display_name(grader),
        grader_type=grader.type,
        rows=len(rows),
        errored=len(rows) - len(good),
        n=len(good),
        spearman=rho,
        spearman_ci=fisher_ci(rho, len(good)) if rho is not None else None,
        exact=_rate([abs(h - j) < 0.5 for h, j in zip(humans, judged, strict=True)]),
        within_one=None,
        pairs=pairs,
        spec=grader.model_dump(mode="json", exclude_none=True),
    )
    if isinstance(grader, LabelModelGrader):
        labels = [(str(row.human), result.label or "") for row, result in good]
        check.exact = _rate([h == j for h, j in labels])
        check.confusion = confusion(labels, grader.labels)
        check.kappa = cohen_kappa(labels)
    elif _on_scale(grader, humans):
        check.within_one = _rate([abs(h - j) <= 1 for h, j in zip(humans, judged, strict=True)])
    return check


def _pair(grader: AnyGrader, row: LabelledRow, result: GradeResult) -> dict[str, Any]:
    judge: Any = result.label if isinstance(grader, LabelModelGrader) else result.reward
    flags = sorted(flag for flag, on in (result.errors or {}).items() if on is True)
    return {"line": row.line, "human": row.human, "judge": None if flags else judge,
            "reward": result.reward, "errors": flags}  # fmt: skip


def _human_reward(grader: AnyGrader, human: float | str) -> float:
    if isinstance(grader, LabelModelGrader):
        return 1.0 if human in grader.passing_labels else 0.0
    return float(human)


def _on_scale(grader: AnyGrader, humans: list[float]) -> bool:
    """Within-1 means something only where scores span more than 1 (e.g. a 1–5 scale)."""
    if isinstance(grader, ScoreModelGrader):
        low, high = grader.bounds
        return high - low > 1
    if isinstance(grader, PythonGrader | MultiGrader) and humans:
        return max(humans) - min(humans) > 1
    return False


def _rate(agreed: list[bool]) -> Rate:
    hits = sum(agreed)
    return Rate(hits, len(agreed), hits / len(agreed) if agreed else None,
                wilson(hits, len(agreed)))  # fmt: skip


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None below 2 values or when either side is constant."""
    if len(xs) < 2:
        return None
    mx, my = mean(xs), mean(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's ρ: Pearson's r of the (tie-averaged) ranks."""
    return pearson(ranks(xs), ranks(ys))


def fisher_ci(rho: float, n: int) -> tuple[float, float] | None:
    """95% interval of Spearman's ρ by Fisher's z; None below 4 rows (no variance estimate)."""
    if n < 4:
        return None
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = Z95 * math.sqrt(SPEARMAN_VARIANCE / (n - 3))
    return (math.tanh(z - half), math.tanh(z + half))


def confusion(labels: list[tuple[str, str]], order: list[str]) -> dict[str, dict[str, int]]:
    """`table[human][judge]` over every label of the grader (zeros included)."""
    counts = Counter(labels)
    return {h: {j: counts[(h, j)] for j in order} for h in order}


def cohen_kappa(labels: list[tuple[str, str]]) -> float | None:
    """Cohen's κ = (p_o − p_e) / (1 − p_e); None when chance agreement is total."""
    if not labels:
        return None
    n = len(labels)
    observed = sum(h == j for h, j in labels) / n
    humans, judges = Counter(h for h, _ in labels), Counter(j for _, j in labels)
    expected = sum(humans[k] * judges[k] for k in humans) / n**2
    return None if expected == 1 else (observed - expected) / (1 - expected)


# --- the rule -----------------------------------------------------------------------------


def judge_status(report: dict[str, Any], rule: JudgeRule) -> tuple[Status, str]:
    """The verdict on a report (`JudgeCheck.to_dict()`, or its JSON file)."""
    try:
        n, rho, ci = int(report["n"]), report["spearman"], report["spearman_ci"]
    except (KeyError, TypeError, ValueError):
        raise InvalidRequestError(
            "not a judge-check report (expected the JSON `openrft judge-check` writes)"
        ) from None
    where = f"on {n} labelled samples (rule: ρ ≥ {rule.min_rho} on ≥ {rule.min_samples})"
    if rho is None:
        detail = f"the judge and the people gave no rank order to compare {where}"
        return ("no-go" if n >= rule.min_samples else "warn"), detail
    shown = f"Spearman ρ {rho:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    if n >= rule.min_samples:
        return ("go" if rho >= rule.min_rho else "no-go"), f"{shown} {where}"
    if ci is not None and ci[1] < rule.min_rho:
        return "no-go", f"{shown} {where}: even the top of the 95% interval is below {rule.min_rho}"
    return "warn", f"insufficient evidence: {shown} {where}; label more samples"


def readiness_items(
    grader: AnyGrader, report: dict[str, Any] | None, rule: JudgeRule
) -> list[tuple[Status, str]]:
    """Readiness's judge-agreement items: the rule's verdict on `report`, a warning when it
    checked another grader, and for a model judge with no report, a warning that no one has."""
    if report is None:
        if isinstance(grader, ScoreModelGrader | LabelModelGrader):
            return [("warn", "no one has checked this judge against people: score some "
                     "samples by hand and run `openrft judge-check`")]  # fmt: skip
        return []
    items = [judge_status(report, rule)]
    if report.get("spec") != grader.model_dump(mode="json", exclude_none=True):
        other = report.get("grader")
        items.append(("warn", f"the judge check was of another grader ({other!r}): its "
                      "agreement says little about this one"))  # fmt: skip
    return items
