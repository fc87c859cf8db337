"""Before the first step: the model loaded (fresh or from the last checkpoint) and its
optimizer built; a checkpoint's files written."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from openrft.models import tiny
from openrft.models.registry import LoadedModel, default_device, load_model, quiet_peft
from openrft.train.checkpoints import Checkpoint
from openrft.train.spec import JobSpec

log = logging.getLogger(__name__)
OPTIMIZER = "optimizer.pt"


def load_policy(spec: JobSpec, home: Path, resume: Checkpoint | None) -> LoadedModel:
    """The trainable model: the base (LoRA-wrapped if asked) or the checkpoint's weights."""
    device = spec.settings.device
    rank = spec.settings.lora_rank
    if (device or default_device()).startswith("cuda"):
        # fp32 weights, TF32 matmuls (fp32 accumulate): the usual fp32 training setting on
        # Ampere and later GPUs, several times the plain fp32 rate.
        torch.set_float32_matmul_precision("high")
    if resume is not None and not rank:
        loaded = load_model(str(resume.path), home=home, device=device, training=True)
        loaded.name = spec.model
        return loaded
    loaded = load_model(spec.model, home=home, device=device, training=True)
    if rank:
        loaded.model = _lora(loaded.model, rank, resume)
    return loaded


def _lora(model: Any, rank: int, resume: Checkpoint | None) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    with quiet_peft():
        if resume is not None:
            return PeftModel.from_pretrained(model, resume.path / "model", is_trainable=True)
        config = LoraConfig(
            r=rank, lora_alpha=2 * rank, target_modules="all-linear", lora_dropout=0.0
        )
        return get_peft_model(model, config)


def optimizer_for(model: Any, lr: float, resume: Checkpoint | None) -> torch.optim.Optimizer:
    # AdamW with the Hugging Face Trainer's defaults (betas 0.9/0.999, eps 1e-8, no decay).
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if resume is not None:
        state = torch.load(resume.path / OPTIMIZER, weights_only=True)
        optimizer.load_state_dict(state)
    return optimizer


def adapter_base(loaded: LoadedModel) -> str:
    """What a LoRA checkpoint names as its base: the builtin by name (any home builds its own,
    so a moved home still serves it), a hub id as it is, a directory as an absolute path."""
    if loaded.name == tiny.NAME or loaded.path is None:
        return loaded.name
    return str(loaded.path.absolute())


def write_weights(
    loaded: LoadedModel,
    optimizer: torch.optim.Optimizer,
    folder: Path,
    whole: tuple[dict[str, Any], Any] | None = None,
) -> None:
    """A checkpoint's files: the servable model (or LoRA adapter) and the optimizer state;
    `whole`: both as gathered from the ranks of a sharded model (`sharded.full_state`)."""
    weights, moments = whole if whole is not None else (None, optimizer.state_dict())
    loaded.model.save_pretrained(folder / "model", state_dict=weights)
    adapter = folder / "model" / "adapter_config.json"
    if adapter.exists():  # after saving: peft probes the base it names while it saves
        config = json.loads(adapter.read_text())
        config["base_model_name_or_path"] = adapter_base(loaded)
        adapter.write_text(json.dumps(config, indent=2, sort_keys=True))
    loaded.tokenizer.save_pretrained(folder / "model")
    torch.save(moments, folder / OPTIMIZER)
