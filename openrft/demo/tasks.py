"""What `openrft demo` trains, per base model: the rows, the grader, the job's settings.

`openrft-tiny` sorts digits (`task`); the real pretrained SmolLM2-135M-Instruct writes
single-digit sums as an equation (`sums`). Each is a task chosen by measurement for its model:
imperfect at the start and improved by a few minutes of training on 2 CPU cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrft.demo import sums, task

Rows = Callable[[int, int], list[dict[str, Any]]]


@dataclass(frozen=True)
class DemoTask:
    model: str
    headline: str
    grader: dict[str, Any]
    reward: str
    """What the grader's reward means, for the summary's caption."""
    train: Rows
    valid: Rows
    chat: list[dict[str, Any]]
    """The last step's chat with the fine-tuned model."""
    wrong: Callable[[str], str]
    """A wrong answer made from a reference, to try the grader on."""
    max_tokens: int
    """Completion budget of the comparison and the chat."""
    train_rows: int
    valid_rows: int
    n_epochs: int
    batch_size: int
    eval_interval: int
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Besides batch size, epochs, eval interval and samples (`compute_multiplier`, ...)."""
    settings: dict[str, Any] | None = None
    """openrft's engine settings for the job (`lora_rank`, ...), sent with `extra_body`."""
    split: Callable[[int, int, int], tuple[list[dict[str, Any]], list[dict[str, Any]]]] | None = (
        None
    )
    """Training and validation rows drawn together (no prompt in both); else `train`, `valid`."""

    def rows(
        self, train_rows: int, valid_rows: int, seed: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The demo's training rows (seed `seed`) and validation rows (seed `seed + 1`)."""
        if self.split is not None:
            return self.split(train_rows, valid_rows, seed)
        return self.train(train_rows, seed), self.valid(valid_rows, seed + 1)


TINY = DemoTask(
    model="openrft-tiny",
    headline="sort digits ascending. The warm-started model gets it right about a third of "
    "the time and learns it from the grader alone.",
    grader=json.loads((Path(__file__).parent / "grader.json").read_text()),
    reward="1 if the answer is exactly the sorted digits, else 0",
    train=task.make_rows,
    valid=task.make_rows,
    chat=[{"role": "user", "content": task.prompt("93172")}],
    wrong=lambda reference: reference[::-1] + "0",
    max_tokens=16,
    train_rows=400,
    valid_rows=100,
    n_epochs=2,
    batch_size=8,
    eval_interval=25,
    hyperparameters={"compute_multiplier": 1.0},
    split=task.make_split,
)

SMOLLM2 = DemoTask(
    model=sums.ALIAS,
    headline="SmolLM2-135M-Instruct, a real pretrained chat model, answers 'What is a + b?' "
    "with the equation. Sampled, it gets it exactly right about 60% of the time; six LoRA "
    "steps make it clean.",
    grader=sums.GRADER,
    reward="1 if the answer is exactly the equation `a + b = sum`, else 0",
    train=sums.make_rows,
    valid=lambda count, seed: sums.make_rows(count, seed, split="valid"),
    chat=sums.row(9, 4)["messages"],  # a validation question
    wrong=lambda reference: reference + ".",
    max_tokens=sums.SETTINGS["max_completion_tokens"],
    train_rows=24,
    valid_rows=sums.VALID_PAIRS,
    n_epochs=1,
    batch_size=4,
    eval_interval=3,
    hyperparameters={
        "compute_multiplier": 0.5,
        "learning_rate_multiplier": sums.LR_MULTIPLIER,
    },
    settings=sums.SETTINGS,
)

TASKS = {t.model: t for t in (TINY, SMOLLM2)}
