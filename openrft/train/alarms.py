"""Reward-hacking alarms, checked at every validation: a series of validation points in, the
alarms it raises out. Pure: no torch, no I/O; the runner feeds it and writes what it returns.

    train_valid_gap      train reward − validation reward above `threshold` (default 0.10)
    completion_length    the validation's mean completion length against the baseline (the
                         first validation's): above `high`× (2.0) or below `low`× (0.5)
    entropy_collapse     the sampled tokens' mean negative log-probability (an entropy
                         estimate from the training pass) below `fraction` (0.25) of its first
    reward_vs_metric     the validation reward rose while a reward-independent metric (the
                         point's `metric`, e.g. an eval grader's mean) fell over the last
                         `window` (3) validations; quiet while no point carries one
    judge_rule_divergence
                         a multi grader's judge and its deterministic part rank the
                         validation samples alike: Spearman's ρ below `threshold` (0.3) on at
                         least `min_samples` (8) samples (`openrft.train.divergence`)

Each alarm has a policy in the job's settings (`TrainSettings.alarms`): `warn` (a message
event), `pause` (the job checkpoints and pauses; resumable) or `fail` (the job fails with
code `training_alarm`). An alarm that paused the job only warns after the job is resumed: a
person looked and chose to go on. At the baseline (step 0) an alarm only warns: nothing has
been trained yet to pause or fail. What was seen and acted on travels in the checkpoint's state
(`observe` takes and returns it), so a resumed job keeps its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from openrft.strict import Strict

Action = Literal["warn", "pause", "fail"]
RESUME_HINT = (
    "the job pauses at its last checkpoint: resume it (POST /v1/fine_tuning/jobs/{id}/resume, "
    "or run its job file again) to go on, this alarm only warning after that; or cancel it"
)
Point = dict[str, Any]
"""One validation: step, train_reward, valid_reward, valid_tokens, entropy, metric, divergence
(each but step may be None)."""


class GapPolicy(Strict):
    threshold: float = Field(default=0.10, ge=0)
    """Alarm when train reward − validation reward exceeds this."""
    action: Action = "warn"


class LengthPolicy(Strict):
    high: float = Field(default=2.0, gt=1)
    """Alarm when the mean completion length exceeds this × the baseline's."""
    low: float = Field(default=0.5, gt=0, lt=1)
    """... or falls below this × the baseline's."""
    action: Action = "warn"


class EntropyPolicy(Strict):
    fraction: float = Field(default=0.25, gt=0, lt=1)
    """Alarm when the entropy estimate falls below this × its first value."""
    action: Action = "warn"


class TrendPolicy(Strict):
    window: int = Field(default=3, ge=2)
    """Validations compared: the reward rose and the metric fell from the first to the last."""
    action: Action = "warn"


class DivergencePolicy(Strict):
    threshold: float = Field(default=0.3, ge=-1, le=1)
    """Alarm when Spearman's ρ between the judge's and the rule's scores is below this."""
    min_samples: int = Field(default=8, ge=3)
    """... measured on at least this many validation samples (fewer: no alarm)."""
    action: Action = "warn"


class AlarmSettings(Strict):
    train_valid_gap: GapPolicy = Field(default_factory=lambda: GapPolicy())
    completion_length: LengthPolicy = Field(default_factory=lambda: LengthPolicy())
    entropy_collapse: EntropyPolicy = Field(default_factory=lambda: EntropyPolicy())
    reward_vs_metric: TrendPolicy = Field(default_factory=lambda: TrendPolicy())
    judge_rule_divergence: DivergencePolicy = Field(default_factory=lambda: DivergencePolicy())


@dataclass(frozen=True)
class Alarm:
    name: str
    action: Action
    """What the job does: the policy's action, or `warn` once a pause was resumed past."""
    message: str
    data: dict[str, Any]

    @property
    def level(self) -> Literal["warn", "error"]:
        return "error" if self.action == "fail" else "warn"


def point(step: int, train: float | None, valid: float | None, tokens: float | None,
          entropy: float | None = None, metric: float | None = None,
          divergence: dict[str, Any] | None = None) -> Point:  # fmt: skip
    """`divergence`: `openrft.train.divergence.judge_rule`'s numbers for this validation."""
    return {"step": step, "train_reward": train, "valid_reward": valid,
            "valid_tokens": tokens, "entropy": entropy, "metric": metric,
            "divergence": divergence}  # fmt: skip


def _first(series: list[Point], key: str) -> float | None:
    return next((p[key] for p in series if p.get(key) is not None), None)


def train_valid_gap(series: list[Point], policy: GapPolicy) -> tuple[str, dict[str, Any]] | None:
    last = series[-1]
    train, valid = last["train_reward"], last["valid_reward"]
    if train is None or valid is None or train - valid <= policy.threshold:
        return None
    gap = train - valid
    text = (
        f"train reward {train:.3f} − validation reward {valid:.3f} = {gap:.3f} "
        f"> {policy.threshold:.3f}"
    )
    data = {"train_reward_mean": train, "valid_reward_mean": valid, "gap": gap}
    return text, data | {"threshold": policy.threshold}


def completion_length(
    series: list[Point], policy: LengthPolicy
) -> tuple[str, dict[str, Any]] | None:
    base, now = _first(series, "valid_tokens"), series[-1]["valid_tokens"]
    if base is None or now is None or len(series) < 2 or base <= 0:
        return None
    ratio = now / base
    if policy.low <= ratio <= policy.high:
        return None
    text = (
        f"validation completion length {now:.1f} tokens is {ratio:.2f}× the baseline's "
        f"{base:.1f} (allowed {policy.low:g}×–{policy.high:g}×)"
    )
    data = {"valid_completion_tokens_mean": now, "baseline": base, "ratio": ratio}
    return text, data | {"low": policy.low, "high": policy.high}


def entropy_collapse(
    series: list[Point], policy: EntropyPolicy
) -> tuple[str, dict[str, Any]] | None:
    base, now = _first(series, "entropy"), series[-1]["entropy"]
    if base is None or now is None or base <= 0 or now >= policy.fraction * base:
        return None
    ratio = now / base
    text = (
        f"sampled-token entropy estimate {now:.3f} nats is {ratio:.2f}× its first value "
        f"{base:.3f} (< {policy.fraction:g}×)"
    )
    return text, {"entropy": now, "baseline": base, "ratio": ratio, "fraction": policy.fraction}


def rising_while_falling(
    rewards: list[float], metric: list[float], policy: TrendPolicy, name: str = "eval metric"
) -> tuple[str, dict[str, Any]] | None:
    """The hook for a reward-independent metric: over the last `window` validations the
    reward rose while `metric` fell (first vs last of the window)."""
    n = policy.window
    if len(rewards) < n or len(metric) < n:
        return None
    r0, r1, m0, m1 = rewards[-n], rewards[-1], metric[-n], metric[-1]
    if not (r1 > r0 and m1 < m0):
        return None
    text = f"reward rose {r0:.3f} → {r1:.3f} while {name} fell {m0:.3f} → {m1:.3f}"
    return text, {"reward": [r0, r1], "metric": [m0, m1], "window": n}


Hit = tuple[str, Action, str, dict[str, Any]]


def reward_vs_metric(series: list[Point], policy: TrendPolicy) -> tuple[str, dict[str, Any]] | None:
    """`rising_while_falling` on the validations that carry both a reward and a metric."""
    if series[-1].get("metric") is None:
        return None
    both = [p for p in series if p.get("metric") is not None and p["valid_reward"] is not None]
    rewards, metric = [p["valid_reward"] for p in both], [p["metric"] for p in both]
    return rising_while_falling(rewards, metric, policy)


def judge_rule_divergence(
    series: list[Point], policy: DivergencePolicy
) -> tuple[str, dict[str, Any]] | None:
    found = series[-1].get("divergence")
    if found is None or found["spearman"] is None or found["n"] < policy.min_samples:
        return None
    rho = found["spearman"]
    if rho >= policy.threshold:
        return None
    text = (
        f"judge {found['judge']!r} and rule {found['rule']!r} rank the {found['n']} validation "
        f"samples with Spearman ρ {rho:.3f} < {policy.threshold:.3f} (judge mean "
        f"{found['judge_mean']:.3f}, rule mean {found['rule_mean']:.3f})"
    )
    return text, found | {"threshold": policy.threshold, "min_samples": policy.min_samples}


def check(series: list[Point], settings: AlarmSettings) -> list[Hit]:
    """(name, policy action, text, numbers) of each alarm the last point raises."""
    found = [
        ("train_valid_gap", settings.train_valid_gap.action,
         train_valid_gap(series, settings.train_valid_gap)),
        ("completion_length", settings.completion_length.action,
         completion_length(series, settings.completion_length)),
        ("entropy_collapse", settings.entropy_collapse.action,
         entropy_collapse(series, settings.entropy_collapse)),
        ("reward_vs_metric", settings.reward_vs_metric.action,
         reward_vs_metric(series, settings.reward_vs_metric)),
        ("judge_rule_divergence", settings.judge_rule_divergence.action,
         judge_rule_divergence(series, settings.judge_rule_divergence)),
    ]  # fmt: skip
    return [(name, action, *hit) for name, action, hit in found if hit is not None]


def observe(
    state: dict[str, Any], new: Point, settings: AlarmSettings
) -> tuple[dict[str, Any], list[Alarm]]:
    """Add a validation point to `state` (`{"series": [...], "acted": [...]}`, as the
    checkpoint keeps it) and return the new state and the alarms it raises."""
    series = [*state.get("series", []), new]
    acted = list(state.get("acted", []))
    alarms = []
    for name, action, text, data in check(series, settings):
        if action == "pause" and name in acted:
            action = "warn"  # the job was paused for this and resumed: a person chose to go on
        if new["step"] == 0:
            action = "warn"  # the baseline: nothing trained yet to pause or fail
        if action != "warn" and name not in acted:
            acted.append(name)
        message = f"Alarm {name} at step {new['step']}: {text}; action: {action}"
        if action == "pause":
            message += f" ({RESUME_HINT})"
        alarms.append(Alarm(name, action, message, {"alarm": name, "action": action, **data}))
    return {"series": series, "acted": acted}, alarms


def stop(alarms: list[Alarm]) -> Alarm | None:
    """The alarm the job acts on: the first that fails it, else the first that pauses it."""
    for action in ("fail", "pause"):
        for alarm in alarms:
            if alarm.action == action:
                return alarm
    return None
