"""Agentic episodes per second: batched episodes vs one episode at a time, in the same run.

    OPENRFT_HOME=.openrft .venv/bin/python bench/agent.py [--episodes 32] [--calls 2]
        [--delay 0.02] [--device cpu]

A loopback tool server (a minimal HTTP server in a child process, so it shares neither our GIL
nor much CPU) answers every call after `delay` seconds. openrft-tiny plays the agent on the
real sampling path (`openrft.models.sampling.sample_turns`); since it was never taught to call
tools, a logits processor leaves it one token per step, that of a scripted turn: `--calls`
turns that each call `lookup`, then an answer quoting the results. Every token is still a real
forward pass, so the cost is a real model's on these lengths. Its 256-token context is
lifted to 2048 (RoPE positions run past it) for the schemas, calls and results to fit. The
same episodes run once through one `run_episodes` call (every ready episode in one generate
call per round) and once one episode per `run_episodes` call; the ratio of episodes per second
is the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from loopback import serve, wait_for  # bench/ is on the path

from openrft.agent import LoadedTurns, Toolbox, ToolServer, run_episodes
from openrft.demo.server import free_port
from openrft.models.completion import RolloutSettings
from openrft.models.registry import LoadedModel, default_device, load_model
from openrft.models.sampling import Turn, key_generator, sample_turns
from openrft.models.tiny import NAME

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "The value stored under a key.",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    }
]


def tool_answer(body: bytes) -> bytes:
    """`{"output": "value-<key>"}` for a call's `key` argument."""
    key = json.loads(json.loads(body)["arguments"]).get("key", "")
    return json.dumps({"type": "function_call_output", "output": f"value-{key}"}).encode()


class Scripted(LoadedTurns):
    """openrft-tiny saying scripted turns: `calls` lookups, then the answer."""

    def __init__(self, loaded: LoadedModel, calls: int):
        super().__init__(loaded)
        self.calls = calls

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        texts = [self._say(self.tokenizer.decode(ids)) for ids in prompts]
        targets = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        return sample_turns(
            self.loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            generators=[key_generator(key) for key in keys],
            processors=[Force(targets, self.tokenizer.eos_token_id)],
        )

    def _say(self, context: str) -> str:
        done = context.count("<|tool|>")
        if done < self.calls:
            arguments = {"key": f"k{done}"}
            return (
                f"<tool_call>{json.dumps({'name': 'lookup', 'arguments': arguments})}</tool_call>"
            )
        return "found " + ", ".join(f"value-k{i}" for i in range(self.calls))


class Force:
    """Row r may only say `targets[r]`, then end its turn."""

    def __init__(self, targets: list[list[int]], eos: int):
        self.targets, self.eos, self.start = targets, eos, -1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.start < 0:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, float("-inf"))
        for row, target in enumerate(self.targets):
            forced[row, target[step] if step < len(target) else self.eos] = 0.0
        return forced


def measure(
    model: Scripted, rows: list[dict[str, Any]], toolbox: Toolbox, batched: bool
) -> dict[str, Any]:
    settings = RolloutSettings(max_new_tokens=96, temperature=1.0)
    start = time.perf_counter()
    if batched:
        runs = [run_episodes(model, rows, 1, 0, settings, toolbox)]
    else:
        runs = [run_episodes(model, [row], 1, 0, settings, toolbox) for row in rows]
    elapsed = time.perf_counter() - start
    calls = sum(sum(run.tool_calls) for run in runs)
    answered = sum(text.startswith("found") for run in runs for text in run.texts)
    return {"elapsed": elapsed, "per_s": len(rows) / elapsed, "calls": calls, "answered": answered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--calls", type=int, default=2, help="tool calls per episode")
    parser.add_argument("--delay", type=float, default=0.02, help="tool latency in seconds")
    parser.add_argument("--device", default=default_device(), help="cpu or cuda")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.delay, tool_answer)
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    home = Path(os.environ.get("OPENRFT_HOME", ".openrft"))
    loaded = load_model(NAME, home=home, device=args.device)
    # openrft-tiny's context is 256 tokens (its demo task's prompts are short); RoPE runs
    # past it, and the episodes here (tool schemas, calls, results) need more.
    loaded.model.config.max_position_embeddings = 2048
    model = Scripted(loaded, args.calls)
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--delay", str(args.delay)]
    tools = subprocess.Popen(argv)
    rows = [
        {"messages": [{"role": "user", "content": f"look up task {i}"}], "tools": TOOLS}
        for i in range(args.episodes)
    ]
    try:
        wait_for(port, "the bench tool server")
        servers = [ToolServer("lookup", f"http://127.0.0.1:{port}/tool")]
        with Toolbox(servers, max_concurrency=64) as toolbox:
            measure(model, rows[:2], toolbox, batched=True)  # warm-up
            batched = measure(model, rows, toolbox, batched=True)
            single = measure(model, rows, toolbox, batched=False)
    finally:
        tools.terminate()
        tools.wait()
    print(
        f"{args.episodes} episodes of {args.calls} tool calls + an answer, openrft-tiny on "
        f"{args.device}, "
        f"tools answering after {args.delay * 1000:g} ms"
    )
    print("| mode | elapsed s | episodes/s | tool calls | answered |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in (("one episode at a time", single), ("batched", batched)):
        print(
            f"| {name} | {row['elapsed']:.2f} | {row['per_s']:.2f} | {row['calls']} | "
            f"{row['answered']} |"
        )
    print(f"speed-up: {batched['per_s'] / single['per_s']:.1f}x")


if __name__ == "__main__":
    main()
