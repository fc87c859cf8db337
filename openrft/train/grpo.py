"""GRPO's math: group-normalised advantages and the policy-gradient loss, nothing else.

On-policy with one optimisation pass per batch (the importance ratio is 1), no KL term
(beta = 0) and the loss averaged over every completion token in the batch (TRL's default
`dapo` normalisation), so the gradient matches TRL's GRPOTrainer with those settings.
"""

from __future__ import annotations

from typing import Any

import torch

from openrft.models.sampling import Rollouts

_EPS = 1e-4  # TRL's epsilon: a group whose rewards are all equal gets advantage 0


def group_advantages(rewards: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """rewards, keep: [B, G] -> advantages [B, G]; samples with keep=False count for nothing."""
    weight = keep.float()
    count = weight.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (rewards * weight).sum(dim=1, keepdim=True) / count
    var = ((rewards - mean) ** 2 * weight).sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)
    return (rewards - mean) / (var.sqrt() + _EPS) * weight


def completion_logprobs(model: Any, rollouts: Rollouts) -> torch.Tensor:
    """Log-probabilities of each completion token under the model: [R, C]."""
    ids = torch.cat([rollouts.prompt_ids, rollouts.completion_ids], dim=1)
    mask = torch.cat([rollouts.prompt_mask, rollouts.completion_mask], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)  # what generate() used under left padding
    width = rollouts.completion_ids.shape[1]
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=width + 1
    ).logits[:, :-1]  # [R, C, V]: position t predicts completion token t
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, rollouts.completion_ids[..., None]).squeeze(-1)


def policy_loss(model: Any, rollouts: Rollouts, advantages: torch.Tensor) -> torch.Tensor:
    """-mean over completion tokens of advantage × log π(token); advantages: [R]."""
    logp = completion_logprobs(model, rollouts)
    mask = rollouts.completion_mask.float() * (advantages != 0).float()[:, None]
    total = rollouts.completion_mask.sum().clamp(min=1)
    return -(advantages[:, None] * logp * mask).sum() / total
