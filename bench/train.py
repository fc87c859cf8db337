"""Seconds per GRPO step: openrft's job vs a bare TRL `GRPOTrainer` script, in the same run.

    .venv/bin/python bench/train.py [--steps 20] [--python-steps 4] [--rounds 2]
    .venv/bin/python bench/train.py --model smollm2-135m-instruct [--steps 6] [--rounds 1]

Same model (openrft-tiny), batch (8 prompts × 8 samples), completion budget (8 tokens), learning
rate, seed and reward. Half 1 rewards with the demo's string_check (openrft grades it
column-wise; TRL calls a plain function). Half 2 rewards with a python grader: openrft's
sandbox pool (slots reused, graded concurrently) vs a fresh sandbox per sample, called
sequentially from TRL's reward function. Step time is the median gap between consecutive step
ends, leaving out the first two steps (warm-up) and openrft's last (it validates). Target:
openrft / TRL <= 1.05 on the string_check half. CPU is shared: compare ratios, not seconds.

`--model smollm2-135m-instruct`: the real pretrained model instead, LoRA and full fine-tuning,
step time (wall and CPU) and each side's peak memory; see `train_real.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")  # TRL/transformers deprecation chatter: not what is measured

from steps import Stamps, step_time, trl_step_time  # noqa: E402  (bench/ is on the path)

from openrft.demo.task import make_rows  # noqa: E402
from openrft.models.tiny import NAME, ensure_tiny  # noqa: E402
from openrft.train.runner import run_job  # noqa: E402
from openrft.train.spec import JobSpec  # noqa: E402

PROMPTS, SAMPLES, TOKENS, LR = 8, 8, 8, 1e-4
PYTHON = """
def grade(sample, item):
    return 1.0 if sample["output_text"] == item["reference"] else 0.0
"""
STRING_CHECK = {
    "type": "string_check",
    "name": "sorted_exactly",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference }}",
    "operation": "eq",
}


def openrft_step(home: Path, steps: int, grader: dict[str, Any]) -> float:
    hp = {"batch_size": PROMPTS, "n_epochs": 1, "eval_interval": 10_000, "eval_samples": 1}
    spec = JobSpec(
        id="ftjob-bench",
        model=NAME,
        training_rows=make_rows(PROMPTS * steps, 1),
        validation_rows=make_rows(8, 2),
        method={
            "type": "reinforcement",
            "reinforcement": {"grader": grader, "hyperparameters": hp},
        },
        settings={"max_completion_tokens": TOKENS},
    )
    stamps = Stamps()
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run_job(spec, workdir=Path(workdir), home=home, events=stamps)
    assert outcome.status == "succeeded", outcome.error
    return step_time(stamps.ends, drop_last=True)


def trl_step(home: Path, steps: int, reward: Any) -> float:
    rows = [
        {"prompt": r["messages"], "reference": r["reference"]}
        for r in make_rows(PROMPTS * steps, 1)
    ]
    return trl_step_time(
        ensure_tiny(home), reward, rows,
        max_steps=steps, learning_rate=LR, lr_scheduler_type="constant",
        per_device_train_batch_size=PROMPTS * SAMPLES, num_generations=SAMPLES,
        max_completion_length=TOKENS, temperature=1.0, top_k=0, beta=0.0, use_cpu=True,
        bf16=False, gradient_checkpointing=False,
    )  # fmt: skip


def exact_match(completions: list[Any], reference: list[str], **_: Any) -> list[float]:
    return [float(c[0]["content"] == r) for c, r in zip(completions, reference, strict=True)]


def fresh_sandbox_reward() -> Any:
    """TRL's reward: each sample graded in a new sandbox, one after another."""
    from openrft.sandbox import SandboxPool

    loop = asyncio.new_event_loop()
    pool = SandboxPool(1, reuse=False)

    def reward(completions: list[Any], reference: list[str], **_: Any) -> list[float]:
        scores = []
        for completion, ref in zip(completions, reference, strict=True):
            sample = {"output_text": completion[0]["content"], "output_json": None}
            verdict = loop.run_until_complete(pool.grade(PYTHON, sample, {"reference": ref}))
            scores.append(float(verdict.score or 0.0))
        return scores

    return reward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=[NAME, "smollm2-135m-instruct"], default=NAME)
    parser.add_argument("--steps", type=int, default=None, help="default 20 (tiny), 6 (real)")
    parser.add_argument("--python-steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (tiny), 1 (real)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if args.model != NAME:
        import train_real

        train_real.main(args.steps or 6, args.rounds or 1)
        return
    args.steps, args.rounds = args.steps or 20, args.rounds or 2
    home = Path(os.environ.get("OPENRFT_HOME", ".openrft"))
    ensure_tiny(home)
    rows: list[tuple[str, float, float]] = []
    for _ in range(args.rounds):  # alternate, so both sides see the same background load
        ours = openrft_step(home, args.steps + 1, STRING_CHECK)
        theirs = trl_step(home, args.steps, exact_match)
        rows.append(("string_check", ours, theirs))
    python = {"type": "python", "name": "exact", "source": PYTHON}
    ours = openrft_step(home, args.python_steps + 1, python)
    theirs = trl_step(home, args.python_steps, fresh_sandbox_reward())
    rows.append(("python (pool vs fresh sandbox per sample)", ours, theirs))
    setup = f"{PROMPTS} prompts x {SAMPLES} samples, {TOKENS} tokens"
    print(f"cpus: {len(os.sched_getaffinity(0))}; {setup}")
    print("| reward | openrft s/step | TRL GRPOTrainer s/step | ratio |")
    print("|---|---|---|---|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
