"""GRPO's loss in micro-batches: the same gradient as the whole batch at once."""

from __future__ import annotations

from pathlib import Path

import torch

from openrft.models.registry import load_model
from openrft.models.sampling import Rollouts, sample
from openrft.models.tiny import NAME
from openrft.train import grpo


def whole_batch_gradient(
    model: torch.nn.Module, rollouts: Rollouts, advantages: torch.Tensor, temperature: float = 1.0
) -> tuple[float, list[torch.Tensor]]:
    """The loss written out directly (log_softmax over every row at once) as the reference."""
    ids = torch.cat([rollouts.prompt_ids, rollouts.completion_ids], dim=1)
    mask = torch.cat([rollouts.prompt_mask, rollouts.completion_mask], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    width = rollouts.completion_ids.shape[1]
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    logp = torch.log_softmax(logits[:, -width - 1 : -1].float() / temperature, dim=-1)
    logp = logp.gather(-1, rollouts.completion_ids[..., None]).squeeze(-1)
    total = rollouts.completion_mask.sum()
    loss = -(advantages[:, None] * logp * rollouts.completion_mask).sum() / total
    loss.backward()
    return float(loss.detach()), gradients(model)


def gradients(model: torch.nn.Module) -> list[torch.Tensor]:
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return grads


def test_micro_batches_give_the_whole_batch_gradient(home: Path) -> None:
    loaded = load_model(NAME, home=home, device="cpu", training=True)
    model = loaded.model
    prompts = ["<|user|>sort 93172:<|end|><|assistant|>", "<|user|>sort 5:<|end|><|assistant|>"]
    rollouts = sample(loaded, prompts, n=5, max_new_tokens=8, seed=3)
    advantages = torch.tensor([1.0, -0.5, 0.0, 0.25, -1.0, 0.0, 0.0, 2.0, -2.0, 0.5])
    expected_loss, expected = whole_batch_gradient(model, rollouts, advantages)
    for micro in (1, 3, 64):
        loss = grpo.accumulate_gradient(model, rollouts, advantages, micro)
        got = gradients(model)
        assert abs(loss - expected_loss) < 1e-5
        assert len(got) == len(expected) > 0
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_loss_is_the_policy_gradient_at_the_sampling_temperature(home: Path) -> None:
    """Sampled at T=0.7, the log-probabilities are those of softmax(logits / 0.7), as in TRL;
    the loss at T=1 on the same rollouts is a different number."""
    loaded = load_model(NAME, home=home, device="cpu", training=True)
    model = loaded.model
    prompts = ["<|user|>sort 93172:<|end|><|assistant|>", "<|user|>sort 58:<|end|><|assistant|>"]
    rollouts = sample(loaded, prompts, n=4, max_new_tokens=8, temperature=0.7, seed=5)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, 0.0, -2.0, 0.25])
    expected_loss, expected = whole_batch_gradient(model, rollouts, advantages, 0.7)
    untempered_loss, _ = whole_batch_gradient(model, rollouts, advantages, 1.0)
    assert abs(expected_loss - untempered_loss) > 1e-3  # the temperature matters here
    loss = grpo.accumulate_gradient(model, rollouts, advantages, 3, temperature=0.7)
    got = gradients(model)
    assert abs(loss - expected_loss) < 1e-5
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_no_signal_means_no_pass() -> None:
    class Untouchable(torch.nn.Module):
        def forward(self, **_: object) -> None:
            raise AssertionError("a batch with no advantage ran a forward pass")

    empty = torch.zeros(4, 3, dtype=torch.long)
    rollouts = Rollouts(empty, empty, empty, torch.ones_like(empty), [], [])
    assert grpo.accumulate_gradient(Untouchable(), rollouts, torch.zeros(4), 2) == 0.0


def test_micro_batch_size_follows_the_logits_budget() -> None:
    width = 256
    ids = torch.zeros(128, width, dtype=torch.long)
    rollouts = Rollouts(ids, ids, ids, ids, [], [])
    assert grpo.micro_batch_rows(rollouts, 151_936, None) == 6  # 2^28 // (256 * 151936)
    assert grpo.micro_batch_rows(rollouts, 300, None) == 2**28 // (width * 300)
    assert grpo.micro_batch_rows(rollouts, 151_936, 32) == 32
    assert grpo.micro_batch_rows(rollouts, 10**9, None) == 1
