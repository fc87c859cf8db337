"""FSDP2 (`torch.distributed.fsdp.fully_shard`) around the trainer's model, for
`settings.sharding: "fsdp"`: parameters, gradients and optimizer state split across the ranks.

Each of the model's repeated blocks (`_no_split_modules`: its decoder layers) is a unit of its
own, then the whole model; a unit's parameters are gathered for its forward and backward and
split again after. Sampling too runs on the split model (`World.sampling`: generate() in
lockstep across the ranks, `openrft.models.sampling.Lockstep`), so no rank holds the whole model
to sample. Two places need the whole state at once:
- checkpoints (`full_state`): every rank takes part in gathering the weights and the optimizer
  state; rank 0 writes them as plain state, the format a single process writes (optimizer state
  keyed by parameter index), so a job resumes under any process count or sharding;
- resume (`optimizer_for`): the plain optimizer state is split onto the ranks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard

from openrft.train.checkpoints import Checkpoint
from openrft.train.setup import OPTIMIZER
from openrft.train.setup import optimizer_for as plain_optimizer

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard(model: Any) -> Any:
    blocks = set(getattr(model, "_no_split_modules", None) or ())
    for module in list(model.modules())[1:]:
        if type(module).__name__ in blocks:
            fully_shard(module, reshard_after_forward=True)
    return fully_shard(model, reshard_after_forward=True)


def full_state(model: Any, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], Any]:
    """(weights, optimizer state) whole on rank 0, in a single process's formats; every rank
    must call it (the gathers are collective)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    weights = get_model_state_dict(model, options=_FULL)
    named: Any = get_optimizer_state_dict(model, optimizer, options=_FULL)
    if not named:  # ranks other than 0 get nothing back (cpu_offload gathers onto rank 0)
        return weights, None
    index = {name: i for i, name in enumerate(_names(named))}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in named["param_groups"]]
    state = {index[name]: value for name, value in named["state"].items()}
    return weights, {"state": state, "param_groups": groups}


def optimizer_for(model: Any, lr: float, resume: Checkpoint | None) -> torch.optim.Optimizer:
    """The sharded model's AdamW, with a checkpoint's plain state split onto the ranks."""
    optimizer = plain_optimizer(model, lr, None)
    if resume is None:
        return optimizer
    plain = torch.load(resume.path / OPTIMIZER, weights_only=True)
    options = StateDictOptions(full_state_dict=True)  # on every rank, unlike _FULL
    names = _names(get_optimizer_state_dict(model, optimizer, options=options))
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in plain["param_groups"]]
    state = {names[i]: value for i, value in plain["state"].items()}
    named: Any = {"state": state, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, optim_state_dict=named, options=options)
    return optimizer


def _names(named: Any) -> list[str]:
    """The parameters' names in the optimizer's order (a plain state's indices)."""
    return [name for group in named["param_groups"] for name in group["params"]]
