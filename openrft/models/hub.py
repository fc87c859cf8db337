"""Hugging Face hub ids: the local cache first, a download only when online.

Both go through huggingface_hub's own `snapshot_download` (the code `from_pretrained` uses), so
a cache filled by any Hugging Face tool is found, and a download lands in that same cache. The
cache directory and offline mode are read from the environment when a model is looked up
(`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_HUB_OFFLINE=1`),
not when huggingface_hub was imported, so a server started with them set obeys them.

What it does not do: retry. An id that the hub does not have, or no network, fails at once
with the reason, and openrft hands the loader a local directory, never an id, so transformers
never goes looking on the hub by itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HubLookup", "cache_dir", "find", "is_hub_id", "offline"]

PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "tokenizer*"]
"""What a causal LM needs (configs, safetensors weights, tokenizer, chat template)."""
CACHE = "Hugging Face cache (HF_HUB_CACHE)"


@dataclass
class HubLookup:
    path: Path | None
    """The snapshot directory, or None when the id was not found."""
    why: str
    """How the lookup went, for an error that names what was tried (no server paths)."""


def cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return xdg.expanduser() / "huggingface" / "hub"


def offline() -> bool:
    flags = (os.environ.get(key, "") for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def is_hub_id(name: str) -> bool:
    """`org/name` or a bare legacy `name`, as the hub spells them (no paths, no `..`)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def find(repo_id: str) -> HubLookup:
    """The cached snapshot of `repo_id` (its `main`), else a download when online."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    where = cache_dir()
    try:
        cached = Path(str(snapshot_download(repo_id, cache_dir=where, local_files_only=True)))
        if _has_weights(cached) or offline():
            return HubLookup(cached, "found in the Hugging Face cache")
    except LocalEntryNotFoundError:
        pass  # a snapshot without weights (a tokenizer fetched alone) is completed online
    if offline():
        return HubLookup(None, f"not in the {CACHE}; offline, not downloaded")
    try:
        path = snapshot_download(repo_id, cache_dir=where, allow_patterns=PATTERNS)
    except RepositoryNotFoundError:
        why = "the hub has no such repository (a private or gated one needs `hf auth login`)"
        return HubLookup(None, f"not in the {CACHE}; {why}")
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HubLookup(None, f"not in the {CACHE}; the hub: {reason}")
    return HubLookup(Path(str(path)), "downloaded from the Hugging Face hub")


def _has_weights(snapshot: Path) -> bool:
    return any(snapshot.glob("*.safetensors")) or any(snapshot.glob("*.bin"))
