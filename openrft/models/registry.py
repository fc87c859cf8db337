"""Loading a model by name: `openrft-tiny`, a Hugging Face model dir or id, or a checkpoint.

A checkpoint dir (`step-N/` with a `model/` folder) is loaded only after its manifest verifies.
A LoRA adapter dir (`adapter_config.json`) is loaded onto its base model. Tokenizers always
pad on the left, which batched generation needs. Hub ids work only when online; tests run
with HF_HUB_OFFLINE=1 and local paths.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from openrft.errors import InvalidRequestError
from openrft.models import tiny


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    device: str
    path: Path | None = None
    """Where the weights came from (None for a hub id)."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_path(name: str, home: Path) -> Path | str:
    """The directory (or hub id) that holds `name`'s weights."""
    if name == tiny.NAME:
        return tiny.ensure_tiny(home)
    path = Path(name).expanduser()
    if (path / "manifest.json").exists() and (path / "model").is_dir():
        from openrft.train.checkpoints import verify  # a checkpoint: serve only verified ones

        verify(path)
        return path / "model"
    if path.is_dir():
        return path
    if path.is_absolute() or name.startswith("."):
        raise InvalidRequestError(f"model not found: {name}", param="model")
    return name


def load_model(
    name: str, *, home: Path, device: str | None = None, training: bool = False
) -> LoadedModel:
    """Load for serving (bf16 on CUDA) or for training (fp32 weights: the optimizer needs them)."""
    device = device or default_device()
    source = resolve_path(name, home)
    dtype = weights_dtype(device, training=training)
    adapter = Path(source) / "adapter_config.json" if isinstance(source, Path) else None
    if adapter is not None and adapter.exists():
        model, tokenizer = _load_adapter(Path(source), home, dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    path = source if isinstance(source, Path) else None
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, device=device, path=path)


def weights_dtype(device: str, *, training: bool) -> torch.dtype:
    """bf16 for serving on CUDA; fp32 to train (and on CPU). Rollouts never run under
    autocast, so the static cache always takes the weights' own dtype."""
    return torch.bfloat16 if device.startswith("cuda") and not training else torch.float32


def _load_adapter(path: Path, home: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    from peft import PeftModel

    base = json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = AutoModelForCausalLM.from_pretrained(resolve_path(base, home), dtype=dtype)
    with quiet_peft():
        adapted = PeftModel.from_pretrained(model, path)
    return adapted, AutoTokenizer.from_pretrained(path)


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` (a FutureWarning
    that our own code never triggers); silence exactly that one."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning
        )
        yield
