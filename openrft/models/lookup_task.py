"""The lookup task `openrft-tiny-agent` is warm-started on: a code no model can know.

Every item has a code made from a seed and the item's key (`code("BKQ")` → `"0247"`, drawn
from a hash, so there is nothing to learn but to ask). The question `code of item BKQ?` comes
with one tool, `lookup()`, that returns the code of the item asked about: the tool reads the
item from the dataset row the service sends with every call (`item`, as Azure's sample tools
do), so the call needs no arguments. An episode is a call, the tool's answer, and the final
answer. Codes are four distinct digits in order, so copying one is picking the context's digits
in order: the copy a 2-layer byte model learns soonest (the sort it is already good at; copying
by position, or a key across the 50 bytes of a call, took it thousands of steps, measured).
It lives beside the model because the warm start needs it; the agent demo
(`openrft.demo.agent`) builds its datasets and its tool server from the same functions. Plain
Python, no torch.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["TOOL", "code", "demonstration", "known", "make_row", "prompt"]

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
KEY_LENGTH, CODE_LENGTH = 3, 4
SEED = 19
"""The table's seed: the same codes in the warm start, the datasets and the tool server."""

TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "The code of the item the question asks about.",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
    },
}
"""The tool every row offers, in Chat Completions function-schema shape."""


def code(key: str, seed: int = SEED) -> str:
    """The code of item `key` in the table of `seed`."""
    return "".join(sorted(random.Random(f"{seed}:{key}").sample(DIGITS, CODE_LENGTH)))


def known(key: str) -> bool:
    """Whether `key` is an item's key (the table has one item per key so written)."""
    return len(key) == KEY_LENGTH and key == "".join(sorted(set(key) & set(LETTERS)))


def prompt(key: str) -> str:
    return f"code of item {key}?"


def make_row(rng: random.Random) -> dict[str, Any]:
    """A dataset row: the question, the tool schema, and the code as the reference answer."""
    key = "".join(sorted(rng.sample(LETTERS, KEY_LENGTH)))
    return {
        "messages": [{"role": "user", "content": prompt(key)}],
        "tools": [TOOL],
        "reference_answer": code(key),
        "key": key,
    }


def call_message(call_id: str = "call_0") -> dict[str, Any]:
    """The assistant turn that asks the tool for the code."""
    function = {"name": "lookup", "arguments": "{}"}
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": call_id, "type": "function", "function": function}]}  # fmt: skip


def demonstration(rng: random.Random, p_call: float, p_right: float) -> list[dict[str, Any]]:
    """A *noisy* whole episode for the warm start: with probability `p_call` the model calls
    the tool and then answers the code it got (probability `p_right`) or that code reversed;
    else it answers a made-up code at once. Both mistakes are choices the model can already
    make, so RL with the grader has something to select."""
    row = make_row(rng)
    answer = row["reference_answer"]
    messages: list[dict[str, Any]] = list(row["messages"])
    if rng.random() >= p_call:
        guess = "".join(sorted(rng.sample(DIGITS, CODE_LENGTH)))
        return [*messages, {"role": "assistant", "content": guess}]
    said = answer if rng.random() < p_right else answer[::-1]
    return [
        *messages,
        call_message(),
        {"role": "tool", "tool_call_id": "call_0", "content": answer},
        {"role": "assistant", "content": said},
    ]
