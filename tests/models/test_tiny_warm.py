"""The agent warm start pads its rows in groups of like length; the step it takes is the step
one padded batch would take."""

import random

import torch

from openrft.models import tiny


def test_grouped_rows_give_the_gradient_of_one_padded_batch() -> None:
    torch.manual_seed(0)
    tokenizer = tiny.build_tokenizer(tiny.AGENT_EOS)
    model = tiny.build_model(tokenizer)
    parts = tiny._episode_batch(tokenizer, random.Random(1))
    assert len(parts) > 1 and sum(len(p["input_ids"]) for p in parts) == tiny.AGENT_BATCH
    whole_width = max(p["input_ids"].shape[1] for p in parts)
    assert sum(p["input_ids"].numel() for p in parts) < 0.75 * tiny.AGENT_BATCH * whole_width
    rows = [
        (row[mask.bool()].tolist(), label[: int(mask.sum())].tolist())
        for p in parts
        for row, mask, label in zip(p["input_ids"], p["attention_mask"], p["labels"], strict=True)
    ]
    whole = tiny._padded(tokenizer, [r[0] for r in rows], [r[1] for r in rows])
    model(**whole).loss.backward()
    padded = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    tiny.accumulate(model, parts)
    grouped = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grouped) == len(padded)
    for a, b in zip(padded, grouped, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
