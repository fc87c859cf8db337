"""Red-team a grader: which degenerate or adversarial answers earn reward (issue: evaluation).

Every probe in `probes.PROBES` answers every row; the grader scores the answers exactly as it
would score a policy's. A probe is flagged when it earns a meaningful share of the grader's top
reward or passes on some rows. Copying the reference only counts as a hack on rows whose prompt
shows that reference, since only there could a policy learn it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from openrft.data.prompts import user_text
from openrft.data.refs import item_refs
from openrft.evals.probes import PROBES, ProbeContext, as_text, references, walk
from openrft.graders import (
    AnyGrader,
    GraderContext,
    ScoreModelGrader,
    compile_template,
    display_name,
    grade_many,
    iter_templates,
    passed,
)

REWARD_SHARE = 0.2
"""A probe earning this share of the top reward on average is flagged."""
PASS_SHARE = 0.05
"""A probe passing on more than this share of rows is flagged."""


@dataclass
class ProbeResult:
    name: str
    description: str
    rows: int
    """Rows the probe applies to (for copy_reference: rows whose prompt shows the reference)."""
    mean_reward: float
    """Mean over the whole dataset; rows the probe does not apply to count as 0."""
    pass_rate: float
    max_reward: float
    errored_rows: int
    flagged: bool = False
    severity: str = "ok"
    message: str = ""


@dataclass
class AuditReport:
    grader: str
    rows: int
    top_reward: float
    probes: list[ProbeResult] = field(default_factory=list)

    @property
    def flagged(self) -> list[ProbeResult]:
        return [probe for probe in self.probes if probe.flagged]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grader": self.grader,
            "rows": self.rows,
            "top_reward": self.top_reward,
            "verdict": "hackable" if self.flagged else "no probe earned reward",
            "probes": [asdict(probe) for probe in self.probes],
        }


def probe_context(grader: AnyGrader, rows: list[dict[str, Any]]) -> ProbeContext:
    paths = [ref.ref.steps or () for ref in item_refs(grader) if not _reads_prompt(ref.ref.steps)]
    values = {as_text(v) for row in rows for steps in paths if (v := walk(row, steps)) is not None}
    return ProbeContext(paths, sorted(values), _json_keys(grader))


def _reads_prompt(steps: tuple[str | int, ...] | None) -> bool:
    return bool(steps) and steps is not None and steps[0] in ("messages", "tools")


def _json_keys(grader: AnyGrader) -> list[str]:
    keys: list[str] = []
    for _, text in iter_templates(grader):
        for ref in compile_template(text).refs:
            steps = ref.steps or ()
            reads_json = ref.namespace == "sample" and steps[:1] == ("output_json",)
            if reads_json and len(steps) > 1 and isinstance(steps[1], str) and steps[1] not in keys:
                keys.append(steps[1])
    return keys


def audit(
    grader: AnyGrader, rows: list[dict[str, Any]], *, context: GraderContext | None = None
) -> AuditReport:
    ctx = probe_context(grader, rows)
    top = grader.bounds[1] if isinstance(grader, ScoreModelGrader) else 1.0
    report = AuditReport(display_name(grader), len(rows), top)
    for name, (description, probe) in PROBES.items():
        chosen = _rows_for(name, rows, ctx)
        if not chosen:
            continue
        answers = [(probe(row, ctx), row) for row in chosen]
        batch = grade_many(grader, answers, context=context)
        # Rows a probe cannot apply to (no exposed reference) count as earning nothing.
        result = ProbeResult(
            name=name,
            description=description,
            rows=len(chosen),
            mean_reward=math.fsum(r.reward for r in batch.results) / len(rows),
            pass_rate=sum(passed(grader, r) for r in batch.results) / len(rows),
            max_reward=max(r.reward for r in batch.results),
            errored_rows=sum(1 for r in batch.results if r.errors),
        )
        report.probes.append(_judge(result, top))
    return report


def _rows_for(name: str, rows: list[dict[str, Any]], ctx: ProbeContext) -> list[dict[str, Any]]:
    if name != "copy_reference":
        return rows
    return [
        row for row in rows if any(ref and ref in user_text(row) for ref in references(row, ctx))
    ]


def _judge(result: ProbeResult, top: float) -> ProbeResult:
    share = result.mean_reward / top if top > 0 and not math.isnan(result.mean_reward) else 0.0
    if share < REWARD_SHARE and result.pass_rate <= PASS_SHARE:
        return result
    result.flagged = True
    result.severity = "error" if share >= 0.5 or result.pass_rate >= 0.5 else "warning"
    result.message = (
        f"{result.description} earns {share:.0%} of the top reward on average and passes on "
        f"{result.pass_rate:.0%} of the rows: a policy can learn this instead of the task"
    )
    return result
