"""`run_job`: one RFT job, start (or resume) to finish, in the calling process.

Reads top to bottom: set up (rows, grader, hyperparameters, model, last checkpoint), then one
GRPO step at a time — poll control, sample `batch_size × samples_per_prompt` completions (a
job with tools: episodes, `openrft.train.episodes`), grade them, drop errored samples (and
dropped episodes) from the advantage, take one optimizer step, validate every
`eval_interval` steps, emit the step's metrics, checkpoint on validation steps — then report.
Grading failures are data; only J6's error rate, a bad request or a crash ends the job early.
The spec arrives checked (`openrft.train.spec`: the grader was validated at the edge); the
result is a typed `JobOutcome`, whose final events the caller writes (`outcome.announce`).
Steps are pure functions of (checkpoint, step number, seed), so a resumed job repeats exactly
what the killed one would have done, and its events dedupe by step (see `events`).
Under torchrun every rank runs this loop on its share of each step (`distributed.World`: the
shard, the all-gathered grades, DDP); only rank 0 writes events, checkpoints and hooks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import torch

from openrft.errors import OpenRFTError
from openrft.evals.judge_check import JudgeCheck
from openrft.graders import JudgeBudget
from openrft.models.structured import schema_of
from openrft.store.blob_dirs import remote_dir
from openrft.store.disk import is_disk_full
from openrft.train import alarms, distributed, grpo, judge_gate
from openrft.train.checkpoints import Checkpoint, CheckpointStore
from openrft.train.divergence import judge_rule
from openrft.train.eval_metric import EVAL_KEY, EvalGrading, add_to_metrics, eval_grading, rank_key
from openrft.train.events import CheckpointHook, Control, EventSink, Journal, ValidationHook
from openrft.train.hparams import Resolved, resolve_hyperparameters
from openrft.train.metrics import SplitStats, metrics_data
from openrft.train.outcome import JobError, JobOutcome, Status, build_outcome, describe
from openrft.train.rewards import Rewarder, check_drop_rate, check_error_rate, first_failure
from openrft.train.setup import load_policy, optimizer_for, write_weights
from openrft.train.sharded import full_state
from openrft.train.sharded import optimizer_for as sharded_optimizer
from openrft.train.spec import JobSpec
from openrft.train.step import (
    CompleterFactory,
    batch_rows,
    evaluate,
    policy_for,
    rollout,
    stats_for,
    step_seed,
    validates,
)

__all__ = ["JobOutcome", "JobSpec", "run_job"]
log = logging.getLogger(__name__)
_EVAL_SALT = 104_729


def run_job(
    spec: JobSpec,
    *,
    workdir: Path,
    home: Path,
    events: EventSink,
    control: Control | None = None,
    on_validation: ValidationHook | None = None,
    on_checkpoint: CheckpointHook | None = None,
    completer: CompleterFactory | None = None,
) -> JobOutcome:
    workdir.mkdir(parents=True, exist_ok=True)
    world = distributed.join(spec.settings.device)
    journal: EventSink = distributed.Silent()  # other ranks neither read nor write the journal
    if world.main:  # rank 0 alone writes events and checkpoints and hears control
        journal = Journal(workdir / "events.jsonl", events)
    else:
        control, on_validation, on_checkpoint = None, None, None
    job = _Job(spec, workdir, home, journal, control)
    job.world = world
    job.on_validation, job.on_checkpoint = on_validation, on_checkpoint
    job.completer = completer  # the rollout engine (default: in-process, on the same weights)
    try:
        return job.run()
    except OpenRFTError as exc:
        return job.fail(exc.code or "invalid_request", exc.message, exc.param)
    except OSError as exc:
        if not is_disk_full(exc):  # ENOSPC or EDQUOT
            raise
        return job.fail("disk_full", f"no space left while writing: {exc.filename or exc}")
    finally:
        job.close()
        distributed.leave(world)


def _episodes(spec: JobSpec) -> Any:
    """A job with tools draws episodes (`openrft.train.episodes`); None: single answers."""
    if not spec.reinforcement.tools:
        return None
    from openrft.train.episodes import EpisodeDrawer  # imports the agent only when needed

    return EpisodeDrawer(spec.reinforcement, spec.settings.tool_concurrency, spec.id)


class _Job:
    hp: Resolved

    def __init__(
        self, spec: JobSpec, workdir: Path, home: Path, events: EventSink, control: Control | None
    ):
        self.spec, self.home, self.events, self.control = spec, home, events, control
        self.state: dict[str, Any] = {"step": 0, "trained_tokens": 0, "metrics": {}}
        self.store = CheckpointStore(
            workdir / "checkpoints", remote_dir(home, workdir / "checkpoints")
        )
        self.rewarder: Rewarder | None = None
        self.eval_grading: EvalGrading | None = None  # the job's `eval_grader`, if any
        self.budget: JudgeBudget | None = None
        self.on_validation: ValidationHook | None = None
        self.on_checkpoint: CheckpointHook | None = None
        self.completer: CompleterFactory | None = None
        self.halt: alarms.Alarm | None = None
        """An alarm whose policy pauses or fails the job, raised at the last validation."""
        self.gate: judge_gate.JudgeGate | None = None  # `settings.judge_check`, if any
        self.judged: JudgeCheck | None = None  # its check at the last validation
        self.agent: Any = None  # a job with tools: its episodes (`EpisodeDrawer`)
        self.world = distributed.SINGLE  # this process's rank (torchrun: one of several)

    def run(self) -> JobOutcome:
        spec = self.spec = self.world.placed(self.spec)  # this rank's device
        data = spec.splits()
        self.hp = resolve_hyperparameters(
            spec.reinforcement.hyperparameters,
            spec.settings,
            train_rows=len(data.train),
            model=spec.model,
        )
        resume = self.store.latest()
        if resume is not None and "resolved" in resume.state:
            self.hp = Resolved(**resume.state["resolved"])  # resolved once, at the first start
        torch.manual_seed(spec.seed)
        self.loaded = load_policy(spec, self.home, resume)
        self.world.wrap(self.loaded.model, spec.settings.sharding)  # DDP when several ranks
        make = sharded_optimizer if self.world.sharded else optimizer_for
        self.optimizer = make(self.loaded.model, self.hp.learning_rate, resume)
        self.valid = data.valid
        self.budget = self._judge_budget(resume.state if resume is not None else {})
        self.rewarder = Rewarder(
            spec.reinforcement.grader,
            concurrency=spec.settings.grader_concurrency,
            judge_budget=self.budget,
            project=spec.project or "default",
        )
        if self.world.main:  # graded on the gathered samples, by rank 0 only
            settings = spec.settings
            self.eval_grading = eval_grading(settings.eval_grader, budget=self.budget, spec=spec)
            self.gate = judge_gate.gate_for(settings.judge_check, spec.reinforcement.grader)
        schema = schema_of(spec.reinforcement.response_format)
        self.agent = _episodes(spec)
        self.policy = policy_for(
            self.loaded, self.hp.max_completion_tokens, spec.settings.temperature, schema,
            self.completer, self.agent,
        )  # fmt: skip
        if resume is None:
            self._started(data.note)
        else:
            self.state = dict(resume.state)
            self._kept(self.store.verified())  # what a crashed attempt left, as it is now
            self.events.emit(
                "message", "info", f"Resumed from step {resume.step}", None, resume.step
            )
        return self._loop(data.train)

    def _judge_budget(self, state: dict[str, Any]) -> JudgeBudget | None:
        """The job's cap on judge tokens, with what the steps up to the checkpoint spent."""
        limit = self.spec.settings.judge_max_tokens
        if limit is None:
            return None
        budget = JudgeBudget(limit, name=f"job {self.spec.id}")
        budget.used = int(state.get("judge_tokens", 0))
        return budget

    def _started(self, split_note: str | None) -> None:
        self.events.emit("message", "info", "Fine-tuning job started")
        self.state["resolved"] = asdict(self.hp)
        self.events.emit("message", "info", "Hyperparameters resolved", asdict(self.hp))
        if split_note:  # D4: the validation rows were held out of the training rows
            self.events.emit("message", "info", split_note)
        baseline = self._validate(0)
        if not self.world.main:
            return
        self._alarms(0, None, baseline)  # the baselines the alarms measure against
        if baseline.results and not any(r.ok for r in baseline.results):
            # Nothing was graded: no score, rather than a reward of 0 that reads as one.
            text = (
                f"Baseline validation: no score: all {len(baseline.results)} samples errored; "
                f"first error: {first_failure(baseline.results)}"
            )
            self.events.emit("message", "warn", text, {"valid_reward_mean": None}, 0)
            return
        reward = baseline.reward_mean
        text = f"Baseline validation mean reward={reward:.3f}"
        self.events.emit("message", "info", text, {"valid_reward_mean": reward}, 0)

    def _loop(self, train_rows: list[dict[str, Any]]) -> JobOutcome:
        for step in range(self.state["step"] + 1, self.hp.total_steps + 1):
            command = self.control.check() if self.control is not None else None
            command = self.world.decided(command)  # rank 0's, on every rank
            if command == "cancel":
                return self.outcome("cancelled")
            if command == "pause":
                self._checkpoint()
                return self.outcome("paused")
            self._step(step, batch_rows(train_rows, self.hp, self.spec.seed, step))
            self.halt = self.world.decided(self.halt)
            if self.halt is not None:  # an alarm's policy; its checkpoint was just written
                return self._halted(self.halt)
        self._checkpoint()  # the last step validates, so this is usually already done
        return self.outcome("succeeded")

    def _step(self, step: int, rows: list[dict[str, Any]]) -> None:
        assert self.rewarder is not None
        started = time.perf_counter()
        world, judged = self.world, self.budget.used if self.budget is not None else 0
        seed = world.seed(step_seed(self.spec.seed, step))
        mine = world.shard(rows)  # this rank's prompts (all of them in one process)
        with world.sampling(self.loaded):
            drawn = rollout(self.policy, mine, self.hp.samples_per_prompt, seed)
        graded = self.rewarder(*drawn.graded())  # a dropped episode is never graded
        # Every rank's rows, in prompt order: the batch as one process would have graded it.
        train = world.merged(stats_for(graded, drawn, len(mine)))
        results, dropped = world.gathered(drawn.spread(graded)), world.gathered(drawn.dropped)
        world.share_judge_tokens(self.budget, judged)
        sampled = time.perf_counter()
        check_error_rate(train.results)
        check_drop_rate(dropped)
        # The group is the prompt's n samples (episodes); errored and dropped ones sit out.
        rewards = torch.tensor([r.reward if r else 0.0 for r in results]).view(len(rows), -1)
        keep = torch.tensor([r is not None and r.ok for r in results]).view(len(rows), -1)
        advantages = world.shard(grpo.group_advantages(rewards, keep).view(-1).tolist())
        entropy = self._optimize(
            drawn.rollouts, torch.tensor(advantages, device=self.loaded.device)
        )
        trained = time.perf_counter()
        valid = self._validate(step) if validates(step, self.hp) else None
        timing = {"sampling": sampled - started, "training": trained - sampled}
        timing["eval"] = time.perf_counter() - trained
        timing["full_iteration"] = time.perf_counter() - started
        train.extra = {"errored_samples": sum(not r.ok for r in train.results)}
        train.extra["train_sampled_token_nll_mean"] = entropy
        tokens = int(drawn.rollouts.prompt_mask.sum() + drawn.rollouts.completion_mask.sum())
        tokens = int(world.total(tokens))  # the whole batch's
        self._record(step, train, valid, timing, tokens)

    def _optimize(self, rollouts: Any, advantages: torch.Tensor) -> float | None:
        """One optimizer step; returns the mean negative log-probability of the sampled
        tokens it trained on (an entropy estimate), None when there was no update."""
        world = self.world
        if not world.total(float(advantages.any())):  # all groups all-equal: no signal, no step
            return None
        model = world.model  # the loaded model, or its DDP/FSDP wrapper
        model.train()
        vocab = int(self.loaded.model.config.vocab_size)
        micro = grpo.micro_batch_rows(rollouts, vocab, self.spec.settings.micro_batch_size)
        temperature = self.spec.settings.temperature  # the rollouts were sampled at it
        nll = [0.0, 0.0]  # summed -log π(token), tokens
        world.backward(rollouts, advantages, micro, temperature, nll)  # averaged over ranks
        nll = [world.total(nll[0]), world.total(nll[1])]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        model.eval()
        # The next rollouts come from these weights (the module itself, never its wrapper).
        self.policy.completer.sync_weights(self.loaded.model)
        return nll[0] / nll[1] if nll[1] else None

    def _validate(self, step: int) -> SplitStats:
        assert self.rewarder is not None
        seed = self.world.seed(step_seed(self.spec.seed, step, salt=_EVAL_SALT))
        rows = self.world.split(self.valid)  # this rank's share of the validation rows
        judged = self.budget.used if self.budget is not None else 0
        with self.world.sampling(self.loaded):
            part = evaluate(self.policy, self.rewarder, rows, self.hp.eval_samples, seed)
        stats = self.world.merged(part)
        # A tool server down fails the job, as in a step; every rank sees the same episodes.
        check_drop_rate(stats.dropped, "a validation")
        self.world.share_judge_tokens(self.budget, judged)
        if self.eval_grading is not None:  # the same samples, graded by the eval grader
            stats.extra[EVAL_KEY] = self.eval_grading.score(stats)
        self.judged = self.gate.measure(self.rewarder) if self.gate is not None else None
        if self.on_validation is not None:  # the server's job eval: one run per validation
            answers = zip(stats.answers, stats.results, stats.completion_tokens, strict=True)
            answered = [(row, s, grade, n) for (row, s), grade, n in answers]
            self.on_validation(step, answered, eval_grades=stats.eval_results)
        return stats

    def _record(
        self,
        step: int,
        train: SplitStats,
        valid: SplitStats | None,
        timing: dict[str, float],
        tokens: int,
    ) -> None:
        """The step's metrics event; on a validation step also a message and a checkpoint."""
        assert self.rewarder is not None
        total = self.hp.total_steps
        valid_mean = valid.reward_mean if valid else None
        self.state["step"] = step
        if not self.world.main:
            if valid is not None:
                self._checkpoint()  # its share of an FSDP checkpoint
            return
        self.state["trained_tokens"] += tokens
        if self.budget is not None:
            self.state["judge_tokens"] = self.budget.used
        self.state["metrics"] = {
            "step": step,
            "train_reward_mean": train.reward_mean,
            "valid_reward_mean": valid_mean,
            "full_valid_mean_reward": valid_mean,
        }
        if self.eval_grading is not None:
            self.state["metrics"][EVAL_KEY] = valid.extra.get(EVAL_KEY) if valid else None
        data = metrics_data(
            self.rewarder.grader,
            step=step,
            total_steps=total,
            train=train,
            valid=valid,
            timing=timing,
        )
        add_to_metrics(data, self.eval_grading, valid.extra.get(EVAL_KEY) if valid else None)
        judge_gate.add_to_metrics(data, self.gate, self.judged if valid else None)
        self.events.emit("metrics", "info", f"Step {step}/{total}", data, step)
        if valid is None:
            return
        text = (
            f"Step {step}/{total}, train mean reward={train.reward_mean:.2f}, "
            f"full validation mean reward={valid_mean:.2f}, "
            f"full validation mean parse error={data['full_valid_mean_parse_error']:.2f}"
        )
        self.events.emit("message", "info", text, None, step)
        self._alarms(step, train, valid)
        self._checkpoint()

    def _alarms(self, step: int, train: SplitStats | None, valid: SplitStats) -> None:
        """The reward-hacking alarms (`alarms`) on this validation: a message each, with its
        numbers; one whose policy pauses or fails the job stops the loop after this step."""
        tokens = valid.completion_tokens
        new = alarms.point(
            step,
            train.reward_mean if train else None,
            valid.reward_mean,
            sum(tokens) / len(tokens) if tokens else None,
            train.extra.get("train_sampled_token_nll_mean") if train else None,
            metric=valid.extra.get(EVAL_KEY),  # the reward-independent metric, when a job has one
            divergence=judge_rule(self.rewarder.grader, valid.results) if self.rewarder else None,
        )
        settings = self.spec.settings.alarms
        self.state["alarms"], raised = alarms.observe(self.state.get("alarms", {}), new, settings)
        for alarm in raised:
            self.events.emit("message", alarm.level, alarm.message, alarm.data, step)
        if self.gate is not None and self.judged is not None:  # the judge against people
            gated = self.state.get("judge_check", {})
            self.state["judge_check"], report = self.gate.observe(gated, step, self.judged)
            self.events.emit("message", report.level, report.message, report.data, step)
            raised += [report.alarm] if report.alarm is not None else []
        self.halt = alarms.stop(raised)

    def _halted(self, alarm: alarms.Alarm) -> JobOutcome:
        if alarm.action == "pause":
            return self.outcome("paused")
        param = judge_gate.PARAM if alarm.name == judge_gate.NAME else "settings.alarms"
        return self.fail("training_alarm", alarm.message, param)

    def _checkpoint(self) -> None:
        step = self.state["step"]
        if step == 0 or (self.store.root / f"step-{step}").exists():
            return
        # FSDP: every rank takes part in gathering the whole state; rank 0 writes it.
        whole = full_state(self.loaded.model, self.optimizer) if self.world.sharded else None
        if not self.world.main:
            return
        self.store.save(
            step, self.state, partial(write_weights, self.loaded, self.optimizer, whole=whole)
        )
        keep_best = self.spec.settings.keep_best
        self._kept(self.store.retain(keep_best, by=rank_key(self.eval_grading)))
        self.events.emit("message", "info", f"Checkpoint created at step {step}", None, step)

    def _kept(self, kept: list[Checkpoint]) -> None:
        """Tell the job store which checkpoints exist now (listed before their event)."""
        if self.on_checkpoint is not None:
            self.on_checkpoint(describe(kept, self.spec.model_name))

    def fail(self, code: str, message: str, param: str | None = None) -> JobOutcome:
        return self.outcome("failed", {"code": code, "message": message, "param": param})

    def outcome(self, status: Status, error: JobError | None = None) -> JobOutcome:
        hp = getattr(self, "hp", None)
        return build_outcome(
            status,
            self.store,
            model_name=self.spec.model_name,
            step=self.state["step"],
            error=error,
            hyperparameters=hp.echo() if hp else None,
            trained_tokens=self.state.get("trained_tokens"),
            best_by=EVAL_KEY if self.eval_grading is not None else None,
        )

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
        if self.rewarder is not None:
            self.rewarder.close()
        if self.eval_grading is not None:
            self.eval_grading.close()
