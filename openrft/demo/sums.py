"""The real-model task: single-digit sums written as an equation (`What is 7 + 5?` → `7 + 5 = 12`).

Chosen by measurement for SmolLM2-135M-Instruct on 2 CPU cores. With one worked example in the
conversation it already knows the sums (greedy decoding gets most right), but sampled at
temperature 1 only about 60% of its answers are exactly the equation: the rest add a period,
ramble on past it, or slip a digit. The grader asks for the equation and nothing else, so six
GRPO steps of LoRA (4 prompts × 4 samples) lift the sampled validation reward from about 0.55
to about 0.9: the kind of gain RFT gives a real model quickly (a sharper, cleaner answer).

The 81 pairs (a, b) are split once: validation rows never ask a training row's question.
"""

from __future__ import annotations

import random
from typing import Any

ALIAS = "smollm2-135m-instruct"
EXAMPLE = [
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "2 + 3 = 5"},
]
GRADER: dict[str, Any] = {
    "type": "string_check",
    "name": "equation_exact",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference }}",
    "operation": "eq",
}
SETTINGS: dict[str, Any] = {"lora_rank": 8, "max_completion_tokens": 8}
"""LoRA on every linear layer; `9 + 8 = 17` plus the end-of-turn token is 8 tokens."""
LR_MULTIPLIER = 0.5
"""× 1e-3 (LoRA's base rate): measured; 6× that collapses the model within four steps."""
VALID_PAIRS = 32


def _pairs() -> list[tuple[int, int]]:
    pairs = [(a, b) for a in range(1, 10) for b in range(1, 10)]
    random.Random(0).shuffle(pairs)
    return pairs


def row(a: int, b: int) -> dict[str, Any]:
    question = {"role": "user", "content": f"What is {a} + {b}?"}
    return {
        "messages": [*EXAMPLE, question],
        "reference": f"{a} + {b} = {a + b}",
        "tags": ["carry"] if a + b >= 10 else [],
    }


def make_rows(count: int, seed: int, *, split: str = "train") -> list[dict[str, Any]]:
    """`count` rows drawn (with a seed) from the split's pairs: the first `VALID_PAIRS` of a
    fixed shuffle for `valid`, the other 49 for `train`."""
    pairs = _pairs()
    pool = pairs[:VALID_PAIRS] if split == "valid" else pairs[VALID_PAIRS:]
    rng = random.Random(seed)
    if count <= len(pool):
        return [row(a, b) for a, b in rng.sample(pool, count)]
    return [row(*rng.choice(pool)) for _ in range(count)]
