"""The models a home can use without a network, and importing one into it.

`listing` names, for `openrft models list`: the builtin, the known aliases (imported or not
yet), what sits in `OPENRFT_HOME/models/` (imports, GGUF conversions), the home's fine-tuned
models and the causal LMs in the local Hugging Face cache. `add` resolves a path, hub id or
alias the way `registry.resolve_path` does and copies the result into `OPENRFT_HOME/models/`
(temp dir + rename), so the name it returns works offline and by name from then on.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from openrft.errors import InvalidRequestError
from openrft.models import gguf, hub, tiny
from openrft.store.atomic import atomic_dir

__all__ = ["ModelEntry", "add", "listing"]


@dataclass
class ModelEntry:
    name: str
    """What to pass as `model` (CLI, job spec, an operator's allow-list)."""
    source: str
    """builtin, alias, imported, fine-tuned or hugging face cache."""
    size: int | None
    """Bytes on disk (None: not built or imported yet)."""
    where: str


def listing(home: Path) -> list[ModelEntry]:
    models = home / "models"
    entries = [_entry(tiny.NAME, "builtin", models / tiny.NAME, "built on first use")]
    for name, alias in gguf.ALIASES.items():
        later = f"imported on first use from {alias.distribution}"
        entries.append(_entry(name, "alias", models / name, later))
    named = {entry.name for entry in entries}
    entries += [e for e in _imported(models) if e.name not in named]
    entries += _fine_tuned(home)
    entries += _hub_cache()
    return entries


def _entry(name: str, source: str, path: Path, otherwise: str) -> ModelEntry:
    if (path / "config.json").exists():
        return ModelEntry(name, source, _size(path), str(path))
    return ModelEntry(name, source, None, otherwise)


def _imported(models: Path) -> list[ModelEntry]:
    found = [p for p in sorted(models.glob("*")) if _is_model(p)]
    found += [p for p in sorted(models.glob("*/*")) if _is_model(p)]  # org/name from the hub
    names = (path.relative_to(models).as_posix() for path in found)
    return [ModelEntry(n, "imported", _size(p), str(p)) for n, p in zip(names, found, strict=True)]


def _is_model(path: Path) -> bool:
    """Safetensors with their config, or a LoRA adapter."""
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


def _fine_tuned(home: Path) -> list[ModelEntry]:
    from openrft.store.db import Database
    from openrft.store.engine import store_exists

    if not store_exists(home):
        return []
    from openrft.store.jobs import JobTable

    jobs = JobTable(Database(home))
    found = [(job["fine_tuned_model"], jobs.model_dir(job)) for job in jobs.succeeded()]
    return [
        ModelEntry(name, "fine-tuned", _size(path), str(path))
        for name, path in found
        if path is not None and path.is_dir()
    ]


def _hub_cache() -> list[ModelEntry]:
    entries = []
    for repo in sorted(hub.cache_dir().glob("models--*")):
        ref = repo / "refs" / "main"
        snapshot = repo / "snapshots" / (ref.read_text().strip() if ref.exists() else "-")
        if not _is_causal_lm(snapshot / "config.json"):
            continue
        name = repo.name.removeprefix("models--").replace("--", "/")
        size = _size(repo / "blobs")
        entries.append(ModelEntry(name, "hugging face cache", size, str(snapshot)))
    return entries


def _is_causal_lm(config: Path) -> bool:
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(str(a).endswith("ForCausalLM") for a in architectures)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def add(source: str, home: Path, name: str | None = None) -> str:
    """Import `source` (a path, hub id or alias) into `OPENRFT_HOME/models/`; the name to use."""
    from openrft.models.registry import resolve_path

    if source == tiny.NAME or (source in gguf.ALIASES and name is None):
        resolve_path(source, home)  # the builtin and the aliases live there under their names
        return source
    found = resolve_path(source, home).resolve()
    models = (home / "models").resolve()
    if found.is_relative_to(models) and name is None:
        return found.relative_to(models).as_posix()  # already there (GGUF is converted there)
    target = name or _default_name(source)
    if not hub.is_hub_id(target):
        raise InvalidRequestError(
            f"model name {target!r}: letters, digits, '-', '_' and '.', at most one '/' "
            "(pass --name)"
        )
    dest = models / target
    if dest.exists():
        raise InvalidRequestError(f"a model called {target} is already in {models}: pass --name")
    _copy(found, dest)
    return target


def _default_name(source: str) -> str:
    if hub.is_hub_id(source) and not Path(source).expanduser().exists():
        return source  # a hub id keeps its name (org/name)
    path = Path(source).expanduser().resolve()
    return path.parent.name if path.name == "model" else path.stem if path.is_file() else path.name


def _copy(found: Path, dest: Path) -> None:
    """Files only (a hub snapshot's symlinks followed), written to a temp dir and renamed."""
    with atomic_dir(dest) as tmp:
        for item in found.iterdir():
            if item.is_file() and not item.name.startswith("."):
                shutil.copyfile(item, tmp / item.name)
