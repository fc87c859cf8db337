"""A training step on a busy machine: torch's defaults vs openrft's thread policy, same run.

    .venv/bin/python bench/threads.py [--steps 30] [--rounds 3]
    OPENRFT_HOME=.openrft .venv/bin/python bench/threads.py --real [--rounds 1]

Each measurement is a fresh process training openrft-tiny for `--steps` GRPO steps (8 prompts
× 8 samples, 8 tokens; median step time, as bench/train.py takes it), idle and then beside one
busy neighbour process (a Python loop that holds one core). Two ways to run it:
- `torch default`: no `OMP_WAIT_POLICY`, torch's own thread count (every core);
- `openrft`: what openrft's processes do (`openrft/threads.py`): OpenMP threads that sleep when
  they wait, `usable_cores()` intra-op threads, one inter-op thread.
Target (issue 18): busy / idle ≤ 2 with openrft's policy. Rounds alternate the two modes; the
table shows each one's median over rounds.

`--real`: SmolLM2-135M-Instruct (the alias, imported into OPENRFT_HOME once) instead: seconds
for one forward and backward pass on 16 rows × 48 tokens plus 8 greedy tokens for the same
rows, mean of 3 after one warm-up, in the same four settings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
sys.path[:0] = [{root!r}, {bench!r}]
from openrft import threads
if {policy!r}:
    threads.prepare_environment()  # as the `openrft` command and job children do
import torch
from steps import Stamps, step_time
from openrft.demo.task import make_rows
from openrft.models.tiny import NAME, ensure_tiny
from openrft.train.runner import run_job
from openrft.train.spec import JobSpec
home = Path({home!r})
ensure_tiny(home)
grader = {{"type": "string_check", "name": "s", "input": "{{{{ sample.output_text }}}}",
          "reference": "{{{{ item.reference }}}}", "operation": "eq"}}
hp = {{"batch_size": 8, "n_epochs": 1, "eval_interval": 10_000, "eval_samples": 1}}
spec = JobSpec(id="ftjob-threads", model=NAME, training_rows=make_rows(8 * {steps}, 1),
               validation_rows=make_rows(8, 2),
               method={{"type": "reinforcement",
                       "reinforcement": {{"grader": grader, "hyperparameters": hp}}}},
               settings={{"max_completion_tokens": 8}})
stamps = Stamps()
with tempfile.TemporaryDirectory() as workdir:
    run_job(spec, workdir=Path(workdir), home=home, events=stamps)
print(json.dumps({{"step": step_time(stamps.ends, drop_last=True),
                  "threads": torch.get_num_threads()}}))
"""
REAL = """
import json, sys, time, warnings
from pathlib import Path
warnings.filterwarnings("ignore")
sys.path[:0] = [{root!r}]
from openrft import threads
if {policy!r}:
    threads.prepare_environment()
import torch
from openrft.models.registry import load_model
loaded = load_model("smollm2-135m-instruct", home=Path({home!r}), device="cpu", training=True)
model, ids = loaded.model, torch.randint(0, 1000, (16, 48))
def once():
    model(input_ids=ids).logits.float().logsumexp(-1).mean().backward()
    model.zero_grad()
    with torch.no_grad():
        x = ids[:, :40]
        for _ in range(8):
            x = torch.cat([x, model(input_ids=x).logits[:, -1:].argmax(-1)], 1)
once()
start = time.perf_counter()
for _ in range(3):
    once()
print(json.dumps({{"step": (time.perf_counter() - start) / 3,
                  "threads": torch.get_num_threads()}}))
"""
BUSY = "while True: pass"


def measure(policy: bool, steps: int, home: Path, real: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if not policy:  # torch's own count and spinning waits: openrft's policy does not apply
        env["OMP_NUM_THREADS"] = str(len(os.sched_getaffinity(0)))
    template = REAL if real else CHILD
    code = template.format(
        root=str(ROOT), bench=str(ROOT / "bench"), policy=policy, home=str(home), steps=steps
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="SmolLM2-135M-Instruct instead")
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    threads: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(os.environ.get("OPENRFT_HOME", tmp)) if args.real else Path(tmp)
        for _ in range(args.rounds):
            for load in ("idle", "busy"):
                neighbour = (
                    subprocess.Popen([sys.executable, "-c", BUSY]) if load == "busy" else None
                )
                try:
                    for mode, policy in (("torch default", False), ("openrft", True)):
                        result = measure(policy, args.steps, home, args.real)
                        times.setdefault((mode, load), []).append(result["step"])
                        threads[mode] = int(result["threads"])
                finally:
                    if neighbour is not None:
                        neighbour.kill()
                        neighbour.wait()
    print(
        f"cores usable: {len(os.sched_getaffinity(0))}; {args.steps} steps × {args.rounds} rounds"
    )
    unit = "s per pass" if args.real else "s/step"
    print(f"| mode | threads | idle {unit} | busy {unit} | busy / idle |")
    print("| --- | --- | --- | --- | --- |")
    for mode in ("torch default", "openrft"):
        idle = statistics.median(times[(mode, "idle")])
        busy = statistics.median(times[(mode, "busy")])
        print(f"| {mode} | {threads[mode]} | {idle:.4f} | {busy:.4f} | {busy / idle:.2f} |")


if __name__ == "__main__":
    main()
