"""`resolve_hyperparameters()`: every `"auto"` becomes a number here, once, at job start (J2).

| hyperparameter           | auto                                                     |
| ------------------------ | -------------------------------------------------------- |
| batch_size               | min(8, training rows)                                    |
| compute_multiplier       | 1.0 (→ 8 samples per prompt)                             |
| learning_rate_multiplier | 1.0 (× 1e-4 full fine-tuning, × 1e-3 LoRA)               |
| n_epochs                 | enough for about 200 steps, within 1..10                 |
| eval_interval            | total steps / 6, at least 1                              |
| eval_samples             | 1                                                        |
| reasoning_effort         | medium (the model's completion budget × 1)               |
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from openrft.train.spec import Hyperparameters, TrainSettings

BASE_LR_FULL = 1e-4  # measured on openrft-tiny (spec/cpu-feasibility.md); 1e-6 does nothing
BASE_LR_LORA = 1e-3
_TARGET_STEPS = 200
_EFFORT = {"low": 0.5, "medium": 1.0, "high": 2.0}


@dataclass(frozen=True)
class Resolved:
    batch_size: int
    learning_rate_multiplier: float
    n_epochs: int
    eval_interval: int
    eval_samples: int
    compute_multiplier: float
    reasoning_effort: str
    # Derived, for the engine:
    samples_per_prompt: int
    learning_rate: float
    max_completion_tokens: int
    steps_per_epoch: int
    total_steps: int

    def echo(self) -> dict[str, Any]:
        """The seven keys echoed in `method.reinforcement.hyperparameters`."""
        keys = Hyperparameters.model_fields
        return {k: v for k, v in asdict(self).items() if k in keys}


def _pick(value: Any, auto: Any) -> Any:
    return auto if value == "auto" else value


def resolve_hyperparameters(
    hp: Hyperparameters, settings: TrainSettings, *, train_rows: int, model: str
) -> Resolved:
    batch = min(_pick(hp.batch_size, 8), max(1, train_rows))
    steps_per_epoch = math.ceil(train_rows / batch)
    epochs = _pick(hp.n_epochs, min(10, max(1, math.ceil(_TARGET_STEPS / steps_per_epoch))))
    total = steps_per_epoch * epochs
    multiplier = float(_pick(hp.compute_multiplier, 1.0))
    lr_mult = float(_pick(hp.learning_rate_multiplier, 1.0))
    effort = effort_of(hp.reasoning_effort)
    return Resolved(
        batch_size=batch,
        learning_rate_multiplier=lr_mult,
        n_epochs=epochs,
        eval_interval=_pick(hp.eval_interval, max(1, total // 6)),
        eval_samples=_pick(hp.eval_samples, 1),
        compute_multiplier=multiplier,
        reasoning_effort=effort,
        samples_per_prompt=min(64, max(2, round(multiplier * 8))),
        learning_rate=lr_mult * (BASE_LR_LORA if settings.lora_rank else BASE_LR_FULL),
        max_completion_tokens=completion_budget(base_completion_tokens(settings, model), effort),
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
    )


def effort_of(reasoning_effort: str | None) -> str:
    """`reasoning_effort` with its default (`default`, `auto` or unset: medium) resolved."""
    return "medium" if reasoning_effort in (None, "default", "auto") else reasoning_effort


def base_completion_tokens(settings: TrainSettings, model: str) -> int:
    """Completion tokens at medium effort: the job's setting, else 16 for openrft-tiny (its
    task's answers are short) and 256 for other models."""
    return settings.max_completion_tokens or (16 if model == "openrft-tiny" else 256)


def completion_budget(base: int, effort: str) -> int:
    """A rollout's completion tokens: `base` × the effort's factor (low 0.5, medium 1, high 2)."""
    return max(1, round(base * _EFFORT[effort]))
