"""`openrft demo`: the whole RFT loop on the embedded default, through the official `openai` SDK.

1. start `openrft serve` on loopback with a fresh home       4. follow the job live
2. upload the train / validation files                        5. checkpoints, the job's eval runs
3. validate and try the grader, create the job                6. baseline vs fine-tuned, gate, chat
Every number printed is measured in this run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai import OpenAI

from openrft.demo.server import local_server
from openrft.demo.tasks import TINY, DemoTask
from openrft.errors import OpenRFTError
from openrft.evals.compare import ModelEval, evaluate
from openrft.evals.gate import Thresholds, Verdict, gate
from openrft.evals.sampling import EndpointSampler, SamplingParams
from openrft.evals.views import measured
from openrft.graders import display_name, validate_grader

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class DemoSettings:
    home: Path
    train_rows: int = 400
    valid_rows: int = 100
    n_epochs: int = 2
    batch_size: int = 8
    eval_interval: int = 25
    seed: int = 42
    eval_samples: int = 2
    task: DemoTask = TINY
    """The base model and its task (`openrft.demo.tasks`)."""

    @classmethod
    def for_task(cls, demo: DemoTask, home: Path, n_epochs: int | None = None) -> DemoSettings:
        return cls(home=home, train_rows=demo.train_rows, valid_rows=demo.valid_rows,
                   n_epochs=n_epochs or demo.n_epochs, batch_size=demo.batch_size,
                   eval_interval=demo.eval_interval, task=demo)  # fmt: skip


@dataclass
class DemoResult:
    job: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    baseline_valid: float | None = None
    measured: str = ""
    """What the base-vs-tuned eval's numbers are over (`openrft.evals.views.measured`)."""
    """The job's step-0 validation mean reward (its "Baseline validation" message), where the
    validation curve starts."""
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    validation_runs: list[dict[str, Any]] = field(default_factory=list)
    baseline: ModelEval | None = None
    tuned: ModelEval | None = None
    verdict: Verdict | None = None
    chat: dict[str, str] = field(default_factory=dict)
    grader_try: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_demo(settings: DemoSettings, say: Any) -> DemoResult:
    """Run the loop; `say(kind, payload)` receives progress for display."""
    start = time.perf_counter()
    shutil.rmtree(settings.home, ignore_errors=True)
    settings.home.mkdir(parents=True)
    train, valid = settings.task.rows(settings.train_rows, settings.valid_rows, settings.seed)
    result = DemoResult()
    say("step", "starting openrft serve on loopback")
    with (
        local_server(settings.home, base_models=(settings.task.model,)) as base_url,
        OpenAI(base_url=base_url, api_key="demo") as client,
    ):
        job_id = _start(client, settings, train, valid, result, say)
        _follow(client, job_id, result, say)
        if result.job.get("status") != "succeeded":
            raise OpenRFTError(
                f"the job ended {result.job.get('status')}: {result.job.get('error')}"
            )
        page = client.fine_tuning.jobs.checkpoints.list(job_id, limit=20)
        result.checkpoints = [c.model_dump() for c in page.data]
        result.validation_runs = _validation_runs(client, result.job)
        say("step", "comparing the prompt-only baseline with the fine-tuned model on the "
            f"{len(valid)} validation rows × {settings.eval_samples} answers sampled at T=1, "
            f"seed {settings.seed} on every request")  # fmt: skip
        asyncio.run(_compare(base_url, valid, settings, result))
        say("step", "chatting with the fine-tuned model")
        result.chat = _chat(client, str(result.job["fine_tuned_model"]), settings.task)
    result.seconds = time.perf_counter() - start
    return result


def _start(client: OpenAI, settings: DemoSettings, train: list[Any], valid: list[Any],
           result: DemoResult, say: Any) -> str:  # fmt: skip
    data_dir = settings.home / "data"
    data_dir.mkdir()
    say("step", f"uploading {len(train)} training and {len(valid)} validation rows")
    with write_rows(data_dir / "train.jsonl", train).open("rb") as handle:
        train_file = client.files.create(file=handle, purpose="fine-tune")
    with write_rows(data_dir / "valid.jsonl", valid).open("rb") as handle:
        valid_file = client.files.create(file=handle, purpose="fine-tune")
    say("step", "validating the grader and trying it on two answers")
    demo, graders = settings.task, client.fine_tuning.alpha.graders
    grader: Any = demo.grader  # the SDK types it as a union of TypedDicts
    graders.validate(grader=grader)
    item, reference = valid[0], valid[0]["reference"]
    right = graders.run(grader=grader, model_sample=reference, item=item)
    wrong = graders.run(grader=grader, model_sample=demo.wrong(reference), item=item)
    result.grader_try = {"right": right.reward, "wrong": wrong.reward}
    hyper = {
        "batch_size": settings.batch_size,
        "n_epochs": settings.n_epochs,
        "eval_interval": settings.eval_interval,
        "eval_samples": 1,
        **demo.hyperparameters,
    }
    method: Any = {
        "type": "reinforcement",
        "reinforcement": {"grader": demo.grader, "hyperparameters": hyper},
    }
    job = client.fine_tuning.jobs.create(
        model=demo.model,
        training_file=train_file.id,
        validation_file=valid_file.id,
        method=method,
        seed=settings.seed,
        suffix="demo",
        extra_body={"settings": demo.settings} if demo.settings else None,
    )
    say("job", job.id)
    per_prompt = round(hyper.get("compute_multiplier", 1.0) * 8)  # per prompt (decision J2)
    say("step", f"train reward: mean {demo.grader['name']} reward (1 exact, else 0) of a step's "
        f"{settings.batch_size} prompts × {per_prompt} sampled answers; valid reward: the same "
        f"on the {len(valid)} validation rows × 1 sampled answer (T=1)")  # fmt: skip
    return job.id


def _follow(client: OpenAI, job_id: str, result: DemoResult, say: Any) -> None:
    seen: set[str] = set()
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        for event in reversed(events):
            if event.id in seen:
                continue
            seen.add(event.id)
            data = event.data if isinstance(event.data, dict) else {}
            if event.type == "metrics" and "step" in data:
                point = {
                    "step": data["step"],
                    "total": data.get("total_steps"),
                    "train": data.get("train_mean_reward"),
                    "valid": data.get("full_valid_mean_reward"),
                }
                result.curve.append(point)
                say("metrics", point)
            else:
                if isinstance(data.get("valid_reward_mean"), int | float):
                    result.baseline_valid = float(data["valid_reward_mean"])
                say("event", event.message)
        if job.status in TERMINAL:
            result.job = job.model_dump()
            return
        time.sleep(0.5)


def _validation_runs(client: OpenAI, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's validations as the runs of its eval, in step order (docs/server.md, Evals)."""
    runs = []
    for run in client.evals.runs.list(str(job["eval_id"]), limit=100):
        counts = run.result_counts
        runs.append({"step": int((run.metadata or {})["step"]), "run": run.id,
                     "passed": counts.passed, "failed": counts.failed,
                     "errored": counts.errored, "total": counts.total})  # fmt: skip
    return sorted(runs, key=lambda run: run["step"])


async def _compare(
    base_url: str, valid: list[Any], settings: DemoSettings, result: DemoResult
) -> None:
    demo = settings.task
    grader = validate_grader(demo.grader)
    params = SamplingParams(
        n=settings.eval_samples, temperature=1.0, seed=settings.seed, max_tokens=demo.max_tokens
    )
    result.measured = measured(len(valid), display_name(grader), params)
    sampler = EndpointSampler(base_url, api_key="demo")
    tuned, base = str(result.job["fine_tuned_model"]), demo.model
    try:
        for model in (base, tuned):  # load both first, so latency is per request, not load
            await sampler.sample(model, valid[0]["messages"], None, params)
        result.baseline = await evaluate(base, valid, grader, sampler, params)
        result.tuned = await evaluate(tuned, valid, grader, sampler, params)
    finally:
        await sampler.aclose()
    result.verdict = gate(
        result.tuned, result.baseline, Thresholds(min_gain=0.1, slice_tolerance=0.05)
    )


def _chat(client: OpenAI, model: str, demo: DemoTask) -> dict[str, str]:
    reply = client.chat.completions.create(
        model=model,
        messages=demo.chat,  # type: ignore[arg-type]
        temperature=0.0,
        max_completion_tokens=demo.max_tokens,
    )
    prompt = str(demo.chat[-1]["content"])
    return {"prompt": prompt, "answer": reply.choices[0].message.content or ""}
