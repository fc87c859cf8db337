"""`run_job`: one RFT job, start (or resume) to finish, in the calling process.

Reads top to bottom: set up (rows, grader, hyperparameters, model, last checkpoint), then one
GRPO step at a time — poll control, sample `batch_size × samples_per_prompt` completions,
grade them, drop errored samples from the advantage, take one optimizer step, validate every
`eval_interval` steps, emit the step's metrics, checkpoint on validation steps — then report.
Grading failures are data; only J6's error rate, a bad request or a crash ends the job early.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from openrft.errors import OpenRFTError
from openrft.graders import validate_grader
from openrft.models.structured import schema_of
from openrft.train import grpo
from openrft.train.checkpoints import Checkpoint, CheckpointStore
from openrft.train.events import Control, EventSink, Journal
from openrft.train.hparams import Resolved, resolve_hyperparameters
from openrft.train.metrics import SplitStats, metrics_data
from openrft.train.naming import checkpoint_id, model_id
from openrft.train.rewards import Rewarder, check_error_rate
from openrft.train.setup import load_policy, optimizer_for, splits, write_weights
from openrft.train.spec import JobSpec
from openrft.train.step import Policy, evaluate, rollout, stats_for, step_seed

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    status: str  # "succeeded" | "failed" | "cancelled" | "paused"
    error: dict[str, Any] | None = None
    resolved_hyperparameters: dict[str, Any] | None = None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    fine_tuned_model_path: str | None = None
    trained_tokens: int | None = None


def run_job(
    spec: JobSpec, *, workdir: Path, home: Path, events: EventSink, control: Control | None = None
) -> JobOutcome:
    workdir.mkdir(parents=True, exist_ok=True)
    journal = Journal(workdir / "events.jsonl", events)
    job = _Job(spec, workdir, home, journal, control)
    try:
        return job.run()
    except OpenRFTError as exc:
        journal.emit("message", "error", f"Job failed: {exc.message}", None, job.state["step"])
        error = {"code": exc.code or "invalid_request", "message": exc.message, "param": exc.param}
        return job.outcome("failed", error)
    finally:
        job.close()


class _Job:
    def __init__(
        self, spec: JobSpec, workdir: Path, home: Path, events: Journal, control: Control | None
    ):
        self.spec, self.home, self.events, self.control = spec, home, events, control
        self.state: dict[str, Any] = {"step": 0, "trained_tokens": 0, "metrics": {}}
        self.store = CheckpointStore(workdir / "checkpoints")
        self.rewarder: Rewarder | None = None
        self.hp: Resolved | None = None

    def run(self) -> JobOutcome:
        spec = self.spec
        grader = validate_grader(spec.reinforcement.grader)
        data = splits(spec)
        self.hp = hp = resolve_hyperparameters(
            spec.reinforcement.hyperparameters,
            spec.settings,
            train_rows=len(data.train),
            model=spec.model,
        )
        resume = self.store.latest()
        torch.manual_seed(spec.seed)
        loaded = load_policy(spec, self.home, resume)
        self.optimizer = optimizer_for(loaded.model, hp.learning_rate, resume)
        self.loaded, self.valid = loaded, data.valid
        self.rewarder = Rewarder(grader, concurrency=spec.settings.grader_concurrency)
        schema = schema_of(spec.reinforcement.response_format)
        self.policy = Policy(loaded, hp.max_completion_tokens, spec.settings.temperature, schema)
        if resume is None:
            self._started(data.held_out, len(data.valid))
        else:
            self.state = dict(resume.state)
            self.events.emit(
                "message", "info", f"Resumed from step {resume.step}", None, resume.step
            )
        return self._loop(data.train)

    def _started(self, held_out: bool, valid_rows: int) -> None:
        assert self.hp is not None
        self.events.emit("message", "info", "Fine-tuning job started")
        if held_out:
            text = f"No validation file: {valid_rows} training rows held out for validation"
            self.events.emit("message", "info", text)
        stats = self._validate(0)
        self.state["baseline_valid_reward"] = stats.reward_mean
        text = f"Baseline validation mean reward={stats.reward_mean:.3f}"
        self.events.emit("message", "info", text, {"valid_reward_mean": stats.reward_mean}, 0)

    def _loop(self, train_rows: list[dict[str, Any]]) -> JobOutcome:
        assert self.hp is not None
        for step in range(self.state["step"] + 1, self.hp.total_steps + 1):
            command = self.control.check() if self.control is not None else None
            if command == "cancel":
                self.events.emit("message", "info", "Job cancelled", None, step - 1)
                return self.outcome("cancelled")
            if command == "pause":
                self._checkpoint_now()
                self.events.emit("message", "info", "Job paused", None, step - 1)
                return self.outcome("paused")
            self._step(step, _batch(train_rows, self.hp, self.spec.seed, step))
        return self._finish()

    def _step(self, step: int, rows: list[dict[str, Any]]) -> None:
        assert self.hp is not None and self.rewarder is not None
        hp, started = self.hp, time.perf_counter()
        self.loaded.model.eval()
        seed = step_seed(self.spec.seed, step)
        rollouts, samples, items = rollout(self.policy, rows, hp.samples_per_prompt, seed)
        results = self.rewarder(samples, items)
        sampled = time.perf_counter()
        check_error_rate(results)
        train = stats_for(results, samples, rollouts, len(rows))
        rewards = torch.tensor([r.reward for r in results]).view(len(rows), -1)
        keep = torch.tensor([r.ok for r in results]).view(len(rows), -1)
        advantages = grpo.group_advantages(rewards, keep).view(-1).to(self.loaded.device)
        self._optimize(rollouts, advantages)
        trained = time.perf_counter()
        valid = self._validate(step) if _validates(step, hp) else None
        timing = {
            "sampling": sampled - started,
            "training": trained - sampled,
            "eval": time.perf_counter() - trained,
        }
        timing["full_iteration"] = time.perf_counter() - started
        train.extra = {"errored_samples": sum(not r.ok for r in results)}
        data = metrics_data(
            self.rewarder.grader,
            step=step,
            total_steps=hp.total_steps,
            train=train,
            valid=valid,
            timing=timing,
        )
        self.state["trained_tokens"] += int(
            rollouts.prompt_mask.sum() + rollouts.completion_mask.sum()
        )
        self.state["step"] = step
        self.state["metrics"] = {
            "step": step,
            "train_reward_mean": train.reward_mean,
            "valid_reward_mean": valid.reward_mean if valid else None,
            "full_valid_mean_reward": valid.reward_mean if valid else None,
        }
        self.events.emit("metrics", "info", f"Step {step}/{hp.total_steps}", data, step)
        if valid is not None:
            self._report(step, train, valid)

    def _optimize(self, rollouts: Any, advantages: torch.Tensor) -> None:
        model = self.loaded.model
        model.train()
        loss = grpo.policy_loss(model, rollouts, advantages)
        if advantages.abs().sum() > 0:  # all-equal groups carry no signal: skip the update
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        model.eval()

    def _validate(self, step: int) -> SplitStats:
        assert self.hp is not None and self.rewarder is not None
        seed = step_seed(self.spec.seed, step, salt=104_729)
        return evaluate(self.policy, self.rewarder, self.valid, self.hp.eval_samples, seed)

    def _report(self, step: int, train: SplitStats, valid: SplitStats) -> None:
        """A validation step: a message in OpenAI's wording, then a checkpoint (J3)."""
        assert self.hp is not None
        parse = valid.parse_errors / max(1, len(valid.results))
        text = (
            f"Step {step}/{self.hp.total_steps}, train mean reward={train.reward_mean:.2f}, "
            f"full validation mean reward={valid.reward_mean:.2f}, "
            f"full validation mean parse error={parse:.2f}"
        )
        self.events.emit("message", "info", text, None, step)
        self._checkpoint_now()

    def _checkpoint_now(self) -> None:
        step = self.state["step"]
        if step == 0 or (self.store.root / f"step-{step}").exists():
            return
        self.store.save(step, self.state, lambda d: write_weights(self.loaded, self.optimizer, d))
        self.store.retain(self.spec.settings.keep_best)
        self.events.emit("message", "info", f"Checkpoint created at step {step}", None, step)

    def _finish(self) -> JobOutcome:
        self._checkpoint_now()  # the last step validates, so this is usually a no-op
        name = self.model_name()
        self.events.emit("message", "info", f"New fine-tuned model created: {name}")
        self.events.emit("message", "info", "The job has successfully completed")
        return self.outcome("succeeded")

    def model_name(self) -> str:
        spec = self.spec
        return model_id(spec.model, spec.org, spec.suffix, spec.id)

    def outcome(self, status: str, error: dict[str, Any] | None = None) -> JobOutcome:
        kept = self.store.verified()
        final = kept[-1] if kept and status == "succeeded" else None
        return JobOutcome(
            status=status,
            error=error,
            resolved_hyperparameters=self.hp.echo() if self.hp else None,
            checkpoints=[self._describe(c) for c in kept],
            fine_tuned_model_path=str(final.path) if final else None,
            trained_tokens=self.state.get("trained_tokens"),
        )

    def _describe(self, checkpoint: Checkpoint) -> dict[str, Any]:
        name = checkpoint_id(self.model_name(), checkpoint.step)
        path = str(checkpoint.path)
        return {
            "step": checkpoint.step,
            "path": path,
            "metrics": checkpoint.metrics,
            "model_name": name,
        }

    def close(self) -> None:
        if self.rewarder is not None:
            self.rewarder.close()


def _validates(step: int, hp: Resolved) -> bool:
    return step % hp.eval_interval == 0 or step == hp.total_steps


def _batch(rows: list[dict[str, Any]], hp: Resolved, seed: int, step: int) -> list[dict[str, Any]]:
    """Step `step`'s prompts: a fresh seeded shuffle each epoch, so any step can be recomputed."""
    epoch, index = divmod(step - 1, hp.steps_per_epoch)
    order = list(range(len(rows)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    start = index * hp.batch_size
    picked = [order[(start + i) % len(order)] for i in range(hp.batch_size)]
    return [rows[i] for i in picked]
