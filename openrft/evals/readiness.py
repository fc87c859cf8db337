"""`openrft readiness`: is RFT worth running on this data, grader and model? Go / no-go.

The decision checklist, automated where data can answer it: the grader validates for training
and resists cheap hacks; the splits are sized, separate and free of leakage; the base model
sometimes succeeds (some signal) but not always (something to learn); enough prompts give
different rewards to different samples; edge and refusal cases are covered; a model judge
agrees with people (a `judge-check` report: Spearman's ρ of at least 0.8 on at least 50
labelled samples, Azure's rule of thumb). Questions only a person can answer (is the task
worth it, do experts agree on the labels) are listed as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from openrft.data.lint import lint_files
from openrft.data.validate import validate_file
from openrft.errors import GraderValidationError
from openrft.evals.audit import audit
from openrft.evals.compare import ModelEval, evaluate
from openrft.evals.judge_check import JudgeRule, readiness_items
from openrft.evals.sampling import Sampler, SamplingParams
from openrft.graders import GraderContext, ScoreModelGrader, is_sync, validate_grader

Status = Literal["go", "warn", "no-go", "ask"]
SATURATED = 0.95
"""A baseline at this share of the top reward has nothing left to learn."""
NO_SIGNAL = 0.9
"""Above this share of prompts whose samples all score the same, there is too little signal."""
HUMAN_QUESTIONS = [
    "Would domain experts agree on the reference answers (label agreement)?",
    "Is a prompt-only or supervised fine-tuning baseline already good enough for the product?",
    "Will a high-impact release get a human review of sampled outputs before rollout?",
]


@dataclass
class Item:
    name: str
    status: Status
    detail: str


@dataclass
class Readiness:
    items: list[Item] = field(default_factory=list)
    baseline: ModelEval | None = None

    @property
    def decision(self) -> Literal["go", "no-go"]:
        return "no-go" if any(item.status == "no-go" for item in self.items) else "go"

    def add(self, name: str, status: Status, detail: str) -> None:
        self.items.append(Item(name, status, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [i.detail for i in self.items if i.status == "no-go"],
            "checklist": [asdict(item) for item in self.items],
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }


async def check(
    train: Path,
    valid: Path,
    grader_data: Any,
    model: str,
    sampler: Sampler,
    params: SamplingParams,
    *,
    context: GraderContext | None = None,
    judge_check: dict[str, Any] | None = None,
    judge_rule: JudgeRule | None = None,
) -> Readiness:
    """`judge_check` is a `judge-check` report (`JudgeCheck.to_dict()`), if one was made."""
    result = Readiness()
    try:
        grader = validate_grader(grader_data, for_training=True)
    except GraderValidationError as exc:
        result.add("grader", "no-go", f"the grader is not valid for training: {exc.message}")
        return result
    result.add("grader", "go", f"{grader.type} grader validates for training")
    for judged in readiness_items(grader, judge_check, judge_rule or JudgeRule()):
        result.add("judge agreement", *judged)
    _data_checks(result, lint_files(train, valid, grader))
    rows = validate_file(valid, split="valid")
    if is_sync(grader):
        hacks = audit(grader, rows).flagged
        status: Status = "no-go" if any(p.severity == "error" for p in hacks) else "warn"
        detail = "; ".join(p.message for p in hacks)
        result.add(
            "grader hacks", status if hacks else "go", detail or "no audit probe earned reward"
        )
    top = grader.bounds[1] if isinstance(grader, ScoreModelGrader) else 1.0
    result.baseline = await evaluate(model, rows, grader, sampler, params, context=context)
    _signal_checks(result, result.baseline, top)
    for question in HUMAN_QUESTIONS:
        result.add("for a person", "ask", question)
    return result


def _data_checks(result: Readiness, lint: Any) -> None:
    errors = [f.message for f in lint.findings if f.severity == "error"]
    warnings = [f.message for f in lint.findings if f.severity == "warning"]
    sizes = ", ".join(f"{s.split} {s.rows} rows" for s in lint.splits)
    result.add("data", "no-go" if errors else "go", "; ".join(errors) or f"splits: {sizes}")
    if warnings:
        result.add("data warnings", "warn", "; ".join(warnings[:5]))
    covered = any(share > 0 for s in lint.splits for share in s.tag_shares.values())
    result.add(
        "edge and refusal cases",
        "go" if covered else "warn",
        "rows tagged edge/refusal: "
        + "; ".join(f"{s.split} {_shares(s.tag_shares)}" for s in lint.splits)
        + ("" if covered else " — add rows tagged `edge` and `refusal` to test them"),
    )


def _shares(shares: dict[str, float]) -> str:
    """`{"edge": 0.05, "refusal": 0.0}` as "edge 5.0%, refusal 0.0%"."""
    return ", ".join(f"{tag} {share:.1%}" for tag, share in shares.items()) or "none"


def _signal_checks(result: Readiness, baseline: ModelEval, top: float) -> None:
    mean = baseline.overall.mean_reward
    k = baseline.samples_per_row
    rate = baseline.overall.pass_rate
    if mean >= SATURATED * top or rate >= SATURATED:
        status: Status = "no-go"
        detail = (
            f"the base model already scores {mean:.3f} (pass rate {rate:.0%}): nothing to learn"
        )
    elif baseline.pass_at_k == 0:
        status = "no-go"
        detail = (
            f"the base model never passes in {k} tries per prompt: no signal to learn from; "
            "make the task easier or give partial credit"
        )
    else:
        status = "go"
        detail = f"base model mean reward {mean:.3f}, pass@{k} {baseline.pass_at_k:.0%}"
    result.add("baseline", status, detail)
    share = baseline.no_signal_share
    status = "no-go" if share > NO_SIGNAL else "warn" if share > 0.5 else "go"
    result.add("learning signal", status, f"{share:.0%} of prompts gave all {k} samples the same "
               "reward (no advantage to learn from there)")  # fmt: skip
