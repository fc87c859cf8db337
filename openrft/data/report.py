"""The data lint's report: typed findings with a severity, plus per-split statistics.

Kept apart from the checks so the evaluation report can build and render the same objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Finding", "LintReport", "Location", "SplitStats"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Location:
    split: str
    """`train` or `valid`."""
    line: int
    """1-based line in that split's file."""


@dataclass
class Finding:
    severity: Severity
    code: str
    """Stable machine name, e.g. `duplicate_prompt`, `leakage`, `class_imbalance`."""
    message: str
    """One sentence a person can act on: what is wrong, where, and what to do."""
    locations: list[Location] = field(default_factory=list)
    """Some of the rows concerned (at most a few dozen; the message gives the count)."""


@dataclass
class SplitStats:
    split: str
    path: str | None
    rows: int
    """Rows that parsed and passed the row rules."""
    bad_rows: int
    limit: int
    prompt_chars: dict[str, int] = field(default_factory=dict)
    """min / p50 / p95 / max characters of all message text per row."""
    tag_shares: dict[str, float] = field(default_factory=dict)
    """Share of rows whose `tags` list holds `edge` / `refusal`."""


@dataclass
class FieldBalance:
    path: str
    """The grader's `item.…` reference, e.g. `item.label`."""
    counts: dict[str, dict[str, int]]
    """Per split, value (as text) → rows."""


@dataclass
class LintReport:
    splits: list[SplitStats] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    balance: list[FieldBalance] = field(default_factory=list)

    def add(
        self, severity: Severity, code: str, message: str, where: list[Location] | None = None
    ) -> None:
        self.findings.append(Finding(severity, code, message, where or []))

    @property
    def has_errors(self) -> bool:
        return any(finding.severity == "error" for finding in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(finding.severity == severity for finding in self.findings)

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda finding: SEVERITIES.index(finding.severity))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.has_errors,
            "counts": {severity: self.count(severity) for severity in SEVERITIES},
            "splits": [asdict(stats) for stats in self.splits],
            "balance": [asdict(balance) for balance in self.balance],
            "findings": [asdict(finding) for finding in self.sorted_findings()],
        }
