"""The trainer reaches its model through the completion seam: a scripted completer handed to
`run_job` draws every rollout (training and validation) and hears `sync_weights` with the
trained module after each optimizer step, and only then."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from openrft.models.chat import render_prompt
from openrft.models.completion import ChatAnswer, ChatPrompt, ChatRequest, RolloutSettings
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts
from openrft.train.runner import run_job
from tests.train.helpers import ListSink, demo_spec


class ScriptedCompleter:
    """Answers each prompt's sample j with its reference when `right(j)`, else with "wrong";
    builds the rollouts' token ids with the model's own tokenizer and never generates."""

    def __init__(self, loaded: LoadedModel, references: dict[str, str], right: Any):
        self.loaded, self.references, self.right = loaded, references, right
        self.calls: list[tuple[str, Any]] = []
        self.weights = [_digest(loaded.model)]
        """A digest of the weights at the start and at each sync."""

    @property
    def context_length(self) -> int | None:
        return None

    def chat_completions(self, requests: Sequence[ChatRequest]) -> list[ChatAnswer]:
        raise AssertionError("a trainer never sends chat requests")

    def rollouts(
        self, prompts: Sequence[ChatPrompt], n: int, seed: int, settings: RolloutSettings
    ) -> Rollouts:
        self.calls.append(("rollouts", (len(prompts), n, settings.max_new_tokens)))
        questions = [str(p.messages[-1]["content"]) for p in prompts]
        texts = [
            self.references[q] if self.right(j) else "wrong" for q in questions for j in range(n)
        ]
        rendered = [render_prompt(self.loaded.tokenizer, p.messages, p.tools) for p in prompts]
        return _rollouts(self.loaded.tokenizer, rendered, texts, n)

    def sync_weights(self, model: Any) -> None:
        assert model is self.loaded.model  # the module the trainer just stepped
        self.calls.append(("sync", None))
        self.weights.append(_digest(model))


def _digest(model: Any) -> str:
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return hashlib.sha256(weights.numpy().tobytes()).hexdigest()


def _rollouts(tokenizer: Any, prompts: list[str], texts: list[str], n: int) -> Rollouts:
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            for t in texts]  # fmt: skip
    width = max(len(ids) for ids in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)], mask[r, : len(row)] = torch.tensor(row), 1
    return Rollouts(
        prompt_ids=enc["input_ids"].repeat_interleave(n, dim=0),
        prompt_mask=enc["attention_mask"].repeat_interleave(n, dim=0),
        completion_ids=ids,
        completion_mask=mask,
        texts=texts,
        finish_reasons=["stop"] * len(texts),
        reasoning_tokens=[0] * len(texts),
    )


def run_scripted(home: Path, workdir: Path, steps: int, right: Any) -> tuple[Any, Any, ListSink]:
    spec = demo_spec(steps, batch=4, valid=8, compute_multiplier=0.5)  # 4 samples a prompt
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}
    made: list[ScriptedCompleter] = []

    def completer(loaded: LoadedModel) -> ScriptedCompleter:
        made.append(ScriptedCompleter(loaded, references, right))
        return made[-1]

    sink = ListSink()
    outcome = run_job(spec, workdir=workdir, home=home, events=sink, completer=completer)
    (scripted,) = made
    return outcome, scripted, sink


def test_a_scripted_completer_draws_every_rollout_and_hears_each_optimizer_step(
    home: Path, tmp_path: Path
) -> None:
    outcome, scripted, sink = run_scripted(home, tmp_path, 2, right=lambda j: j % 2 == 0)
    assert outcome.status == "succeeded", outcome.error
    valid, train = ("rollouts", (8, 1, 16)), ("rollouts", (4, 4, 16))
    sync = ("sync", None)
    assert scripted.calls == [valid, train, sync, train, sync, valid]  # baseline first
    assert len(set(scripted.weights)) == 3  # each sync saw weights the step had changed
    # The scripted answers are what was graded: half of each group right, every answer of
    # the validation (sample 0) right.
    scores = [m["data"]["scores"] for m in sink.metrics()]
    assert [s["train_reward_mean"] for s in scores] == [0.5, 0.5]
    assert scores[-1]["valid_reward_mean"] == 1.0


def test_no_optimizer_step_no_sync(home: Path, tmp_path: Path) -> None:
    """Every answer right: every group's advantage is 0, so no step is taken, none synced."""
    outcome, scripted, sink = run_scripted(home, tmp_path, 1, right=lambda j: True)
    assert outcome.status == "succeeded", outcome.error
    assert sink.metrics()[0]["data"]["scores"]["train_reward_mean"] == 1.0
    assert [kind for kind, _ in scripted.calls] == ["rollouts", "rollouts", "rollouts"]
    assert len(set(scripted.weights)) == 1
