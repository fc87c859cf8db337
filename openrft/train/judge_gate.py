"""The judge checked against people during training: a job's `settings.judge_check`.

`openrft judge-check` (`openrft.evals.judge_check`) measures, before a job, how well a judge
agrees with scores people gave. A job can carry a small labelled set of its own, inline:

    "judge_check": {"rows": [{"item": {...}, "sample": "...", "human": 1}, ...],
                    "min_rho": 0.8, "action": "warn" | "pause" | "fail"}

At every validation (the baseline, step 0, included) the job's own grader grades those rows
with the job's grader context (the same judge client and `judge_max_tokens` budget) and the
job writes a `message` event with Spearman's ρ, its 95% interval, the rows compared and the
exact agreement; the metrics event carries `judge_check_spearman`. The labelled rows do not
depend on the policy, so the check repeats to catch a judge that changes under the job (a
sampled judge, a model swapped behind an endpoint).

Below `min_rho` (or with no rank order to compare, e.g. every row errored) it is an alarm
named `judge_check` acted on as the other alarms are (`openrft.train.alarms`): at the
baseline it only warns, later `pause` checkpoints and pauses the job (after a resume it only
warns: a person chose to go on) and `fail` fails it with code `training_alarm`.

The rules that need the job's grader run at the edge (`validate`, param
`settings.judge_check...`): the grader must be, or contain, a model grader (score_model,
label_model), and each row must be one `judge-check` accepts for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from openrft.errors import DataFileError, InvalidRequestError
from openrft.evals.judge_check import JudgeCheck, LabelledRow, agreement, parse_row
from openrft.graders import AnyGrader, MultiGrader
from openrft.strict import Strict
from openrft.train.alarms import RESUME_HINT, Action, Alarm

NAME = "judge_check"
METRIC = "judge_check_spearman"
"""ρ's name in the metrics event (null on a step without validation)."""
MAX_ROWS = 200
JUDGES = frozenset({"score_model", "label_model"})
PARAM = "settings.judge_check"


class JudgeCheckSettings(Strict):
    rows: list[dict[str, Any]] = Field(min_length=4, max_length=MAX_ROWS)
    """Labelled rows as `openrft judge-check` reads them: `{"item", "sample", "human"}`."""
    min_rho: float = Field(default=0.8, ge=-1, le=1)
    """Alarm when Spearman's ρ between the judge and the people is below this."""
    action: Action = "warn"


def has_judge(grader: AnyGrader) -> bool:
    if isinstance(grader, MultiGrader):
        return any(has_judge(sub) for sub in grader.graders.values())
    return grader.type in JUDGES


def labelled(settings: JudgeCheckSettings, grader: AnyGrader) -> list[LabelledRow]:
    """The rows, checked against the grader; a 400 naming the row's path otherwise."""
    rows = []
    for index, row in enumerate(settings.rows):
        try:
            rows.append(parse_row(grader, row, "rows", index))
        except DataFileError as exc:
            where = f"{PARAM}.rows[{index}]"
            raise InvalidRequestError(f"Invalid '{where}': {exc.reason}", param=where) from None
    return rows


def validate(settings: JudgeCheckSettings | None, grader: AnyGrader) -> None:
    """The edge's check of `settings.judge_check` against the job's grader."""
    if settings is None:
        return
    if not has_judge(grader):
        raise InvalidRequestError(
            f"Invalid '{PARAM}': it checks a model judge against people, but the job's grader "
            f"({grader.type}) is not and has no model grader (score_model, label_model)",
            param=PARAM,
        )
    labelled(settings, grader)


@dataclass(frozen=True)
class Report:
    """What the job writes for one check: a message event, and the alarm when it fell short."""

    level: Literal["info", "warn", "error"]
    message: str
    data: dict[str, Any]
    alarm: Alarm | None


class JudgeGate:
    def __init__(self, settings: JudgeCheckSettings, grader: AnyGrader):
        self.settings, self.grader = settings, grader
        self.rows = labelled(settings, grader)

    def measure(self, grade: Any) -> JudgeCheck:
        """`grade(samples, items)` is the job's `Rewarder`: same grader, context, budget."""
        results = grade([r.sample for r in self.rows], [r.item for r in self.rows])
        return agreement(self.grader, self.rows, results)

    def observe(
        self, state: dict[str, Any], step: int, check: JudgeCheck
    ) -> tuple[dict[str, Any], Report]:
        """The event for this check and the new state (`{"acted": bool}`, kept in the
        checkpoint so that a resumed job only warns)."""
        rho, ci, exact = check.spearman, check.spearman_ci, check.exact
        shown = "no rank order" if rho is None else f"Spearman ρ {rho:.3f}"
        shown += f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        agree = f"exact agreement {exact.agree}/{exact.total}"
        agree += f" ({exact.rate:.2f})" if exact.rate is not None else ""
        text = (
            f"judge {check.grader!r} against {check.n} labelled samples "
            f"({check.errored} errored): {shown}, {agree}"
        )
        data = {METRIC: rho, "spearman_ci": list(ci) if ci else None, "n": check.n,
                "rows": check.rows, "errored": check.errored, "exact": exact.rate,
                "exact_ci": list(exact.ci) if exact.ci else None,
                "min_rho": self.settings.min_rho}  # fmt: skip
        if rho is not None and rho >= self.settings.min_rho:
            return state, Report("info", f"Judge check at step {step}: {text}", data, None)
        action = self.settings.action
        acted = bool(state.get("acted"))
        if step == 0 or (action == "pause" and acted):
            action = "warn"  # the baseline, or a pause a person resumed past
        least = f"below the least ρ {self.settings.min_rho:.3f}"
        message = f"Alarm {NAME} at step {step}: {text}; {least}; action: {action}"
        if action == "pause":
            message += f" ({RESUME_HINT})"
        alarm = Alarm(NAME, action, message, {"alarm": NAME, "action": action, **data})
        state = {"acted": acted or action != "warn"}
        return state, Report(alarm.level, message, alarm.data, alarm)


def gate_for(settings: JudgeCheckSettings | None, grader: AnyGrader) -> JudgeGate | None:
    return None if settings is None else JudgeGate(settings, grader)


def add_to_metrics(data: dict[str, Any], gate: JudgeGate | None, check: JudgeCheck | None) -> None:
    """The metrics event's ρ, flat and under `scores` (null on a step without validation)."""
    if gate is None:
        return
    rho = check.spearman if check is not None else None
    data[METRIC] = rho
    data["scores"][METRIC] = rho
