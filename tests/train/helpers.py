"""Shared by tests/train and tests/models: the tiny model built once per session, demo jobs."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def tiny_home(factory: pytest.TempPathFactory) -> Path:
    """One OPENRFT_HOME per test session with the warm-started openrft-tiny in it."""
    from openrft.models.tiny import ensure_tiny

    home = factory.getbasetemp() / "tiny-home"
    ensure_tiny(home)
    return home


def demo_grader() -> dict[str, Any]:
    text = resources.files("openrft.demo").joinpath("grader.json").read_text()
    grader: dict[str, Any] = json.loads(text)
    return grader


def demo_method(**hyperparameters: Any) -> dict[str, Any]:
    reinforcement = {"grader": demo_grader(), "hyperparameters": hyperparameters}
    return {"type": "reinforcement", "reinforcement": reinforcement}


def demo_spec(steps: int, *, batch: int = 4, valid: int = 16, seed: int = 0, **hp: Any) -> Any:
    """A job of exactly `steps` steps on the demo task."""
    from openrft.demo.task import make_rows
    from openrft.train.spec import JobSpec

    settings = hp.pop("settings", {})
    hp = {"batch_size": batch, "n_epochs": 1, "eval_interval": steps, "eval_samples": 1} | hp
    return JobSpec(
        id=f"ftjob-test-{seed}",
        model="openrft-tiny",
        training_rows=make_rows(batch * steps, seed + 1),
        validation_rows=make_rows(valid, seed + 2) if valid else None,
        method=demo_method(**hp),
        seed=seed,
        settings=settings,
    )


class ListSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, type: str, level: str, message: str, data: Any = None, step: Any = None) -> None:
        self.events.append(
            {"type": type, "level": level, "message": message, "data": data, "step": step}
        )

    def metrics(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "metrics"]
