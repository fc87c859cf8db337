"""The real trainer, its model made to call a tool: `OPENRFT_JOB_RUNNER=tests.train.agent_runner`.

openrft-tiny was never taught a tool-call format, so an agentic job's test needs it to make
calls on cue. `CallsFirst` is the job's own model (trained by the job, synced by it) whose
first turn of every episode is forced, token by token, to `CALL` (a `lookup` call in
openrft-tiny's format); later turns are sampled freely. Everything else is the production
path: the job child, `run_job`, `openrft.agent`'s episodes against a real tool server, the
grader, GRPO and the checkpoints. `run_job` also writes the child's pid to `child.pid` in the
job's folder, for a test that kills it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from openrft.models.completion import RolloutSettings
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Turn, key_generator, sample_turns
from openrft.train import runner

CALL = "<tool_call>" + json.dumps({"name": "lookup", "arguments": {"key": "a"}}) + "</tool_call>"
CONTEXT = 1024
"""Tokens an episode may grow to (the demo's tiny model has rotary positions: no hard cap)."""


class _Force:
    """A logits processor: a row with a target may only say it, then end its turn."""

    def __init__(self, targets: list[list[int] | None], eos: int):
        self.targets, self.eos, self.start = targets, eos, -1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.start < 0:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        for row, target in enumerate(self.targets):
            if target is not None:
                scores[row] = float("-inf")
                scores[row, target[step] if step < len(target) else self.eos] = 0.0
        return scores


class CallsFirst:
    """A `TurnModel` (and the trainer's completer): the first turn calls, the rest are free."""

    def __init__(self, loaded: LoadedModel):
        self.loaded, self.tokenizer, self.device = loaded, loaded.tokenizer, loaded.device
        self.context_length: int | None = CONTEXT
        self._call: list[int] = self.tokenizer(CALL, add_special_tokens=False)["input_ids"]

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        called = ["<tool_call>" in self.tokenizer.decode(ids) for ids in prompts]
        targets = [None if done else self._call for done in called]
        return sample_turns(
            self.loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            generators=[key_generator(key) for key in keys],
            processors=[_Force(targets, self.tokenizer.eos_token_id)],
        )

    def sync_weights(self, model: Any) -> None:
        """The job's model is this one's: nothing to copy."""


def run_job(spec: Any, **kwargs: Any) -> Any:
    (kwargs["workdir"] / "child.pid").write_text(str(os.getpid()))
    return runner.run_job(spec, completer=CallsFirst, **kwargs)
