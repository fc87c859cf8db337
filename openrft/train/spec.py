"""What a job is: OpenAI's create body for `method.reinforcement`, with rows instead of file ids.

`JobSpec` is what the worker (and `openrft train`) hands to `run_job`. The hyperparameters are
OpenAI's seven, each `"auto"` or a number; `TrainSettings` holds the few engine knobs OpenAI
has no word for (LoRA or full fine-tuning, device, completion budget).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openrft.strict import Strict

Auto = Literal["auto"]


class Hyperparameters(Strict):
    # Bounds on the number inside the union: on the field they would also meet "auto" (a
    # TypeError from pydantic, not a validation error).
    batch_size: Annotated[int, Field(ge=1, le=256)] | Auto = "auto"
    """Prompts per step."""
    learning_rate_multiplier: Annotated[float, Field(gt=0)] | Auto = "auto"
    """Times the model's base learning rate (1e-4 full fine-tuning, 1e-3 LoRA)."""
    n_epochs: Annotated[int, Field(ge=1, le=50)] | Auto = "auto"
    """Passes over the training rows."""
    eval_interval: Annotated[int, Field(ge=1)] | Auto = "auto"
    """Training steps between validation runs (the last step always validates)."""
    eval_samples: Annotated[int, Field(ge=1)] | Auto = "auto"
    """Samples per validation prompt; the validation reward averages over them."""
    compute_multiplier: Annotated[float, Field(gt=0.00001, le=10)] | Auto = "auto"
    """× 8, rounded and clamped to 2..64: samples per training prompt (the GRPO group)."""
    reasoning_effort: Literal["default", "low", "medium", "high"] = "default"
    """low/medium/high: 0.5×/1×/2× the completion-token budget."""


class Reinforcement(Strict):
    grader: dict[str, Any]
    """Grader JSON, validated by the grader engine at job start."""
    response_format: dict[str, Any] | None = None
    """A `json_schema` response format: rollouts are constrained to it."""
    hyperparameters: Hyperparameters = Field(default_factory=lambda: Hyperparameters())


class Method(Strict):
    type: Literal["reinforcement"]
    reinforcement: Reinforcement


class TrainSettings(Strict):
    lora_rank: int = Field(default=0, ge=0)
    """0: full fine-tuning; otherwise LoRA of this rank on every linear layer."""
    max_completion_tokens: int | None = Field(default=None, ge=1)
    """The completion budget at medium effort (default 16 for openrft-tiny, else 256)."""
    temperature: float = Field(default=1.0, gt=0)
    """Rollout temperature."""
    device: str | None = None
    """`cpu`, `cuda`, ... (default: CUDA when present)."""
    keep_best: int = Field(default=3, ge=1)
    """Checkpoints kept by validation reward (J3), besides the final one."""
    grader_concurrency: int = Field(default=16, ge=1)
    """Remote grader calls in flight at once."""
    judge_max_tokens: int | None = Field(default=None, ge=1)
    """Judge tokens (prompt + completion) the job's model graders may spend, training and
    validation together, resumes included; past it the job fails (`judge_budget_exceeded`)."""
    micro_batch_size: int | None = Field(default=None, ge=1)
    """Rollouts per forward/backward pass (default: as many as keep one pass's logits under
    2^28 values, e.g. 6 for a 150k vocabulary and 256-token completions)."""


class JobSpec(Strict):
    id: str
    model: str
    """`openrft-tiny`, a Hugging Face model dir or id, or a checkpoint dir."""
    training_rows: list[dict[str, Any]]
    validation_rows: list[dict[str, Any]] | None = None
    """None: a deterministic 10% of the training rows (D4)."""
    method: Method
    seed: int = 0
    suffix: str | None = None
    org: str = "openrft"
    model_name: str | None = None
    """The fine-tuned model's id, given by the jobs layer (one name for the events, the
    checkpoints and the job row); None (`openrft train`): made from `model`, `org`, `suffix`."""
    project: str | None = None
    settings: TrainSettings = Field(default_factory=lambda: TrainSettings())

    @property
    def reinforcement(self) -> Reinforcement:
        return self.method.reinforcement
