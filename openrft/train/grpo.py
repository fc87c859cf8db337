"""GRPO's math: group-normalised advantages and the policy-gradient loss, nothing else.

On-policy with one optimisation pass per batch (the importance ratio is 1), no KL term
(beta = 0) and the loss averaged over every completion token in the batch (TRL's default
`dapo` normalisation). Log-probabilities are those of the distribution the rollouts were
sampled from, the logits divided by the sampling temperature (as TRL does), so the gradient is
the policy gradient of what was sampled and matches TRL's GRPOTrainer with those settings.
The loss counts only the tokens the model generated (`completion_mask`): an agentic episode's
tool messages sit in the completion as context the model attends to (`Rollouts.attention()`)
and carry no loss. The batch is backpropagated in micro-batches, so a model with a real
vocabulary (150k tokens) and 256-token completions fits: memory grows with the micro-batch,
not with the batch.
"""

from __future__ import annotations

from typing import Any

import torch

from openrft.models.sampling import Rollouts

_EPS = 1e-4  # TRL's epsilon: a group whose rewards are all equal gets advantage 0
LOGITS_BUDGET = 2**28
"""Logit values per forward pass by default: 1 GiB in fp32 (its backward needs about 3×)."""


def group_advantages(rewards: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """rewards, keep: [B, G] -> advantages [B, G]; samples with keep=False count for nothing."""
    weight = keep.float()
    count = weight.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (rewards * weight).sum(dim=1, keepdim=True) / count
    var = ((rewards - mean) ** 2 * weight).sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)
    return (rewards - mean) / (var.sqrt() + _EPS) * weight


def completion_logprobs(model: Any, rollouts: Rollouts, temperature: float = 1.0) -> torch.Tensor:
    """Log-probabilities of each completion token under the model sampled at `temperature`
    (softmax of logits / temperature): [R, C]."""
    ids = torch.cat([rollouts.prompt_ids, rollouts.completion_ids], dim=1)
    mask = torch.cat([rollouts.prompt_mask, rollouts.attention()], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # what generate() used under left padding
    width = rollouts.completion_ids.shape[1]
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=width + 1
    ).logits[:, :-1]  # [R, C, V]: position t predicts completion token t
    if temperature != 1.0:
        logits = logits / temperature
    # The chosen token's logit minus logsumexp: no second [R, C, V] tensor for log_softmax.
    picked = logits.gather(-1, rollouts.completion_ids[..., None]).squeeze(-1).float()
    return picked - torch.logsumexp(logits.float(), dim=-1)


def micro_batch_rows(rollouts: Rollouts, vocab_size: int, limit: int | None) -> int:
    """Rollouts per forward/backward pass: `limit`, or as many as keep a pass's logits under
    LOGITS_BUDGET values (the [rows, C, V] tensor is what grows with a real vocabulary)."""
    if limit is not None:
        return limit
    per_row = max(1, rollouts.completion_ids.shape[1] * vocab_size)
    return max(1, LOGITS_BUDGET // per_row)


def accumulate_gradient(
    model: Any,
    rollouts: Rollouts,
    advantages: torch.Tensor,
    micro_batch: int,
    temperature: float = 1.0,
    nll: list[float] | None = None,
    total: float | None = None,
) -> float:
    """Backpropagate -mean over completion tokens of advantage × log π(token) (advantages: [R];
    π at the rollouts' sampling `temperature`), `micro_batch` rollouts at a time. Each pass
    divides by the whole batch's token count, so the summed gradient is the full batch's.
    Rollouts with advantage 0 add nothing to the loss and are skipped. Returns the loss;
    `nll`, when given, gains the trained tokens' summed -log π and their count. `total`, when
    given, is the divisor instead of these rollouts' token count (a rank's share of the whole
    batch's: `distributed.World.token_share`)."""
    divisor = rollouts.completion_mask.sum().clamp(min=1) if total is None else max(total, 1.0)
    rows = advantages.nonzero().squeeze(-1)
    loss = 0.0
    for start in range(0, len(rows), micro_batch):
        index = rows[start : start + micro_batch]
        part = take(rollouts, index)
        logp = completion_logprobs(model, part, temperature)
        mask = part.completion_mask.float()
        part_loss = -(advantages[index][:, None] * logp * mask).sum() / divisor
        part_loss.backward()
        if nll is not None:
            nll[0] -= float((logp.detach() * mask).sum())
            nll[1] += float(mask.sum())
        loss += float(part_loss.detach())
    return loss


def take(rollouts: Rollouts, index: torch.Tensor) -> Rollouts:
    """The rollouts at `index` (tensors only; texts are not needed for the loss)."""
    return Rollouts(
        prompt_ids=rollouts.prompt_ids[index],
        prompt_mask=rollouts.prompt_mask[index],
        completion_ids=rollouts.completion_ids[index],
        completion_mask=rollouts.completion_mask[index],
        texts=[],
        finish_reasons=[],
        completion_attention=None
        if rollouts.completion_attention is None
        else rollouts.completion_attention[index],
    )
