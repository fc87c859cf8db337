"""GRPO step time and peak memory on a real model: openrft's job vs a bare TRL `GRPOTrainer`.

    .venv/bin/python bench/train.py --model smollm2-135m-instruct [--steps 6]

SmolLM2-135M-Instruct (the alias, imported once into OPENRFT_HOME), LoRA (rank 8, every linear
layer, alpha 16) and full fine-tuning. Both sides load the same model directory and train on the
same rows (`openrft.demo.sums`), batch (4 prompts × 4 samples), completion budget (8 tokens),
learning rate, temperature 1, no KL, one pass per batch, and the same reward (exact match:
openrft's string_check `eq`, a plain function for TRL). Each side runs in a child process of
its own, so its peak RSS (`ru_maxrss`) is its own; on CUDA the torch peak is reported as well.

Step time is the median gap between consecutive step ends, leaving out the first (warm-up) and
openrft's last (it validates), in wall seconds and in the process's CPU seconds; the CPU time
is what to compare on a shared machine. Target: openrft / TRL <= 1.0.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from steps import step_time

from openrft.demo import sums
from openrft.models.gguf import ensure_alias
from openrft.train.runner import run_job
from openrft.train.spec import JobSpec

PROMPTS, SAMPLES, TOKENS, RANK = 4, 4, 8, 8
LR = {"lora": 5e-4, "full": 1e-5}


class Clock:
    """Wall and CPU time at each step end (`metrics` events, or TRL's `on_step_end`)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def tick(self) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def emit(self, type: str, *args: Any, **kwargs: Any) -> None:
        if type == "metrics":
            self.tick()

    def result(self, drop_last: bool) -> dict[str, float]:
        return {
            "wall": step_time(self.wall, drop_last=drop_last),
            "cpu": step_time(self.cpu, drop_last=drop_last),
        }


def openrft_side(home: Path, mode: str, steps: int) -> dict[str, float]:
    hp = {
        "batch_size": PROMPTS,
        "n_epochs": 1,
        "eval_interval": 10_000,
        "compute_multiplier": SAMPLES / 8,
        "learning_rate_multiplier": LR[mode] / (1e-3 if mode == "lora" else 1e-4),
    }
    spec = JobSpec(
        id="ftjob-bench-real",
        model=sums.ALIAS,
        training_rows=sums.make_rows(PROMPTS * steps, seed=1),
        validation_rows=sums.make_rows(2, seed=2, split="valid"),
        method={
            "type": "reinforcement",
            "reinforcement": {"grader": sums.GRADER, "hyperparameters": hp},
        },
        settings={"lora_rank": RANK if mode == "lora" else 0, "max_completion_tokens": TOKENS},
    )
    clock = Clock()
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run_job(spec, workdir=Path(workdir), home=home, events=clock)
    assert outcome.status == "succeeded", outcome.error
    return clock.result(drop_last=True)


def exact_match(completions: list[Any], reference: list[str], **_: Any) -> list[float]:
    return [float(c[0]["content"] == r) for c, r in zip(completions, reference, strict=True)]


def trl_side(home: Path, mode: str, steps: int) -> dict[str, float]:
    import contextlib
    import io

    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    path = ensure_alias(sums.ALIAS, home)
    clock = Clock()

    class Stamp(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            clock.tick()

    rows = [{"prompt": r["messages"], "reference": r["reference"]}
            for r in sums.make_rows(PROMPTS * steps, seed=1)]  # fmt: skip
    lora = LoraConfig(r=RANK, lora_alpha=2 * RANK, target_modules="all-linear", lora_dropout=0.0)
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, max_steps=steps, learning_rate=LR[mode], lr_scheduler_type="constant",
            per_device_train_batch_size=PROMPTS * SAMPLES, num_generations=SAMPLES,
            max_completion_length=TOKENS, temperature=1.0, top_k=0, beta=0.0, use_cpu=True,
            bf16=False, gradient_checkpointing=False, save_strategy="no", report_to="none",
            disable_tqdm=True, logging_steps=10_000, seed=0,
        )  # fmt: skip
        trainer = GRPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(path),
            reward_funcs=exact_match,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(path),
            peft_config=lora if mode == "lora" else None,
            callbacks=[Stamp()],
        )
        with contextlib.redirect_stdout(io.StringIO()):  # TRL prints its final log dict
            trainer.train()
    return clock.result(drop_last=False)


def child(side: str, mode: str, steps: int) -> None:
    """Run one side in this process; print its numbers as one JSON line."""
    import torch

    home = Path(os.environ.get("OPENRFT_HOME", ".openrft"))
    run = openrft_side if side == "openrft" else trl_side
    result: dict[str, Any] = run(home, mode, steps)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        result["torch_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("RESULT " + json.dumps(result), flush=True)


def measure(side: str, mode: str, steps: int) -> dict[str, Any]:
    command = [sys.executable, __file__, side, mode, str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{side} {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1][len("RESULT ") :]))


def main(steps: int, rounds: int) -> None:
    ensure_alias(sums.ALIAS, Path(os.environ.get("OPENRFT_HOME", ".openrft")))
    rows = []
    for mode in ("lora", "full"):
        for _ in range(rounds):  # alternate, so both sides see the same background load
            ours = measure("openrft", mode, steps + 1)
            theirs = measure("trl", mode, steps)
            rows.append((mode, ours, theirs))
    setup = f"{PROMPTS} prompts x {SAMPLES} samples, {TOKENS} tokens, LoRA rank {RANK}"
    print(f"{sums.ALIAS}; cpus: {len(os.sched_getaffinity(0))}; {setup}")
    print("| mode | openrft s/step (wall, cpu) | TRL s/step (wall, cpu) | ratio wall | ratio cpu "
          "| peak RSS MB openrft / TRL |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for mode, a, b in rows:
        print(f"| {mode} | {a['wall']:.2f}, {a['cpu']:.2f} | {b['wall']:.2f}, {b['cpu']:.2f} "
              f"| {a['wall'] / b['wall']:.2f} | {a['cpu'] / b['cpu']:.2f} "
              f"| {a['rss_mb']:.0f} / {b['rss_mb']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")  # TRL/transformers deprecation chatter
    logging.disable(logging.WARNING)
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
