"""The job contract: what a reinforcement fine-tuning job is, written once.

    Hyperparameters  OpenAI's seven, each "auto" or a number (the API body, the job object's
                     echo, `openrft train`'s job file and the trainer all read this one)
    Method           `method` of OpenAI's create body, with the grader typed (and the tools
                     of an agentic job, `openrft.train.tools`)
    TrainSettings    the few engine knobs OpenAI has no word for (LoRA, device, budget, ...)
    JobSpec          what `run_job` gets: the above, the rows, the weights and the model's name

The edges build it: the API route (`openrft.server.routers.fine_tuning`) and the job file
(`openrft.cli.job_file`) check the grader (and `settings.eval_grader`) with `validate_grader`
once, with the error path the caller sees, and build a `Method`. Everything after trusts it:
the store keeps `Method.to_json()`, the job child parses that back once into a `JobSpec`, the
trainer reads the typed grader. A `Method` parsed from JSON is checked for shape only (the
rules a grader must pass for training ran at the edge). The held-out validation split (D4) is
`held_out`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_serializer, field_validator, model_validator
from pydantic_core import PydanticCustomError

from openrft.data.split import split_rows
from openrft.graders import AnyGrader
from openrft.outbound import join_headers, split_headers
from openrft.strict import Strict
from openrft.train.alarms import AlarmSettings
from openrft.train.judge_gate import JudgeCheckSettings
from openrft.train.naming import fine_tuned_name
from openrft.train.tools import MAX_EPISODE_STEPS, MAX_TOOLS, JobTool, redacted, with_secrets

Auto = Literal["auto"]
Row = dict[str, Any]


class Hyperparameters(Strict):
    # "auto" first: the API's 400 lists each branch's reason in this order. Bounds sit on the
    # number inside the union: on the field they would also meet "auto" (a TypeError from
    # pydantic, not a validation error).
    batch_size: Auto | Annotated[int, Field(ge=1, le=256)] = "auto"
    """Prompts per step."""
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0)] = "auto"
    """Times the model's base learning rate (1e-4 full fine-tuning, 1e-3 LoRA)."""
    n_epochs: Auto | Annotated[int, Field(ge=1, le=50)] = "auto"
    """Passes over the training rows."""
    eval_interval: Auto | Annotated[int, Field(ge=1)] = "auto"
    """Training steps between validation runs (the last step always validates)."""
    eval_samples: Auto | Annotated[int, Field(ge=1)] = "auto"
    """Samples per validation prompt; the validation reward averages over them."""
    compute_multiplier: Auto | Annotated[float, Field(gt=0.00001, le=10)] = "auto"
    """× 8, rounded and clamped to 2..64: samples per training prompt (the GRPO group)."""
    reasoning_effort: Literal["default", "low", "medium", "high"] = "default"
    """low/medium/high: 0.5×/1×/2× the completion-token budget."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """A `null` (which clients send for "not given") is the default, and is not echoed."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


def echo_hyperparameters(given: dict[str, Any], resolved: dict[str, Any] | None) -> dict[str, Any]:
    """The job object's `method.reinforcement.hyperparameters`: each of the seven resolved
    (J2, once the job started), else as given, else its default ("auto", "default")."""
    fields = Hyperparameters.model_fields
    resolved = resolved or {}
    return {key: resolved.get(key, given.get(key, fields[key].default)) for key in sorted(fields)}


TrainingGrader = Annotated[AnyGrader, Field(discriminator="type")]


class Reinforcement(Strict):
    model_config = ConfigDict(validate_assignment=True)

    grader: TrainingGrader
    """The grader, typed; it passed `validate_grader(..., for_training=True)` at the edge."""
    response_format: dict[str, Any] | None = None
    """A `json_schema` response format (Chat Completions' wrapper): rollouts are constrained
    to it."""
    hyperparameters: Hyperparameters = Field(default_factory=lambda: Hyperparameters())
    tools: list[JobTool] = Field(default_factory=list, max_length=MAX_TOOLS)
    """Where each function the rows offer is served: given, rollouts are multi-turn episodes
    (`openrft.agent`). Checked at the edge (`openrft.train.tools.parse_tools`)."""
    max_episode_steps: int = Field(default=10, ge=1, le=MAX_EPISODE_STEPS)
    """Model turns per episode, at most (the last one's answer is graded as it is)."""


class Method(Strict):
    type: Literal["reinforcement"]
    reinforcement: Reinforcement

    def to_json(self) -> dict[str, Any]:
        """The stored form (the jobs row's `method`, echoed by the job object): the grader
        without its unset optional fields and an endpoint grader's header values redacted, the
        hyperparameters as given, and an agentic job's tools with their header values redacted
        (they travel apart: `grader_secrets`, `with_tool_secrets`, `with_grader_secrets`)."""
        reinforcement = self.reinforcement
        out: dict[str, Any] = {
            "grader": grader_json(reinforcement.grader)[0],
            "response_format": reinforcement.response_format,
            "hyperparameters": reinforcement.hyperparameters.model_dump(exclude_unset=True),
        }
        if reinforcement.tools:  # a job without tools keeps OpenAI's shape
            out["tools"] = redacted(reinforcement.tools)
            out["max_episode_steps"] = reinforcement.max_episode_steps
        return {"type": self.type, "reinforcement": out}

    def grader_secrets(self) -> dict[str, dict[str, str]]:
        """The endpoint grader's header values (`split_headers`: by its path in the grader,
        `""` the grader itself, a `multi`'s sub-grader's key)."""
        return grader_json(self.reinforcement.grader)[1]

    def with_grader_secrets(self, values: dict[str, dict[str, str]]) -> Method:
        """This method with its endpoint grader's header values (`grader_secrets`) back."""
        grader = with_grader_secrets(self.reinforcement.grader, values, "the job's grader")
        return self.model_copy(
            update={"reinforcement": self.reinforcement.model_copy(update={"grader": grader})}
        )

    def with_tool_secrets(self, values: dict[str, dict[str, str]]) -> Method:
        """This method with its tools' header values (`openrft.train.tools.secrets`) back."""
        tools = with_secrets(self.reinforcement.tools, values)
        return self.model_copy(
            update={"reinforcement": self.reinforcement.model_copy(update={"tools": tools})}
        )


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
    tool_concurrency: int = Field(default=16, ge=1, le=1024)
    """Tool calls (`method.reinforcement.tools`) in flight at once, over all of a step's
    episodes."""
    judge_max_tokens: int | None = Field(default=None, ge=1)
    """Judge tokens (prompt + completion) the job's model graders may spend, training and
    validation together, resumes included; past it the job fails (`judge_budget_exceeded`)."""
    processes: int = Field(default=1, ge=1)
    """Training processes (torch.distributed ranks, started with torchrun): one per GPU on
    CUDA, at most one per core on CPU. Each takes an equal share of every step's prompts, so
    the batch size must divide by it (`openrft.train.distributed`)."""
    devices: list[int] | int | None = None
    """The CUDA GPUs the job's processes see (`CUDA_VISIBLE_DEVICES` for its child, or for
    torchrun's ranks): a list of device indices on the worker's host (`[0, 2]`), or a count
    (`2`: the lowest-numbered GPUs the worker's other running jobs do not hold). One process
    per device: `processes` defaults to their number and may not differ from it. Checked
    against the host's GPUs when the job is created (`openrft.train.distributed`)."""
    sharding: Literal["ddp", "fsdp"] = "ddp"
    """How several processes share the model: `ddp` (a full copy each, gradients all-reduced)
    or `fsdp` (FSDP2 `fully_shard`: parameters, gradients and optimizer state split across
    the ranks, for a model that does not fit one device)."""
    micro_batch_size: int | None = Field(default=None, ge=1)
    """Rollouts per forward/backward pass (default: as many as keep one pass's logits under
    2^28 values, e.g. 6 for a 150k vocabulary and 256-token completions)."""
    alarms: AlarmSettings = Field(default_factory=lambda: AlarmSettings())
    """Reward-hacking alarms checked at each validation, each `warn`, `pause` or `fail`
    (`openrft.train.alarms`)."""
    eval_grader: TrainingGrader | None = None
    """A reward-independent metric (`openrft.train.eval_metric`): a grader the policy never
    trains on, run on every validation's samples (`valid_eval_mean_score`). Given, checkpoints
    are kept by it and the fine-tuned model is the best checkpoint by it. Validated at the edge
    as the job's grader is (`validate_grader`, param `settings.eval_grader`)."""
    judge_check: JudgeCheckSettings | None = None
    """A small set of human-labelled samples the job's judge is checked against at each
    validation (`openrft.train.judge_gate`); checked against the job's grader at the edge."""

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        """Distinct indices ≥ 0, or a count ≥ 1 (never a bool, a float or an empty list)."""
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise PydanticCustomError("devices", "a count of GPUs is at least 1")
            return value
        if not isinstance(value, list) or not value:
            raise PydanticCustomError(
                "devices", "a list of CUDA device indices ([0, 1]) or a count of GPUs (2)"
            )
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in value):
            raise PydanticCustomError("devices", "CUDA device indices are whole numbers ≥ 0")
        if len(set(value)) != len(value):
            raise PydanticCustomError("devices", "a device is listed twice")
        return value

    @field_serializer("eval_grader")
    def _grader_json(self, grader: AnyGrader | None) -> dict[str, Any] | None:
        """Stored as the job's grader is: without its unset optional fields, an endpoint
        grader's header values redacted (they travel apart, as the job's grader's do)."""
        return None if grader is None else grader_json(grader)[0]

    def with_grader_secrets(self, values: dict[str, dict[str, str]]) -> TrainSettings:
        """These settings with the `eval_grader`'s header values back."""
        if self.eval_grader is None:
            return self
        grader = with_grader_secrets(self.eval_grader, values, "settings.eval_grader")
        return self.model_copy(update={"eval_grader": grader})


def grader_json(grader: AnyGrader) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The grader as stored (unset optional fields left out, header values `***`) and its
    endpoint header values by path (`openrft.outbound.split_headers`)."""
    stored, values = split_headers(grader.model_dump(mode="json", exclude_none=True))
    return stored, values


def with_grader_secrets(
    grader: AnyGrader, values: dict[str, dict[str, str]], what: str
) -> AnyGrader:
    """`grader` (parsed from its stored form) with its header values back; a header whose
    value is missing is an error naming it, never sent as the mask."""
    given = grader.model_dump(mode="json", exclude_none=True)
    joined = join_headers(given, values, what=what)
    if joined == given:
        return grader
    return type(grader).model_validate(joined)


@dataclass(frozen=True)
class Splits:
    train: list[Row]
    valid: list[Row]
    note: str | None = None
    """Set when the validation rows were held out of the training rows: the job's event."""


def held_out(rows: list[Row], seed: int) -> Splits:
    """Decision D4: without a validation file, a deterministic 10% of the training rows
    (whole prompt groups, `split_rows`) is the validation set. The one place it is done."""
    train, valid = split_rows(rows, seed=seed)
    note = (
        f"No validation_file: {len(valid)} of {len(rows)} training rows were held out for "
        f"validation (deterministic, seed {seed})"
    )
    return Splits(train, valid, note)


class JobSpec(Strict):
    id: str
    model: str
    """What the trainer loads: `openrft-tiny`, a Hugging Face id, or a model or checkpoint
    directory (the server resolves a model's name to it; over the API it is never a path)."""
    model_name: str = ""
    """The fine-tuned model's id (J4), computed once by the jobs layer from the model's name
    (`naming.fine_tuned_name`) and carried beside the weights it resolved to; the events, the
    checkpoints and the job row all say it. Left out, it is made from `model`."""
    training_rows: list[Row]
    validation_rows: list[Row] | None = None
    """None: a deterministic 10% of the training rows (D4, `held_out`)."""
    method: Method
    seed: int = 0
    suffix: str | None = None
    org: str = "openrft"
    project: str | None = None
    settings: TrainSettings = Field(default_factory=lambda: TrainSettings())

    @model_validator(mode="after")
    def _name(self) -> JobSpec:
        if not self.model_name:
            self.model_name = fine_tuned_name(self.model, self.org, self.suffix, self.id)
        return self

    @property
    def reinforcement(self) -> Reinforcement:
        return self.method.reinforcement

    def splits(self) -> Splits:
        """The rows to train and to validate on (D4 when no validation rows were given)."""
        if self.validation_rows:
            return Splits(self.training_rows, self.validation_rows)
        return held_out(self.training_rows, self.seed)
