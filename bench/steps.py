"""Step timing shared by the training benches: when each step ended, and the typical gap."""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any


def step_time(ends: list[float], drop_last: bool) -> float:
    """Median gap between consecutive step ends, without the first (warm-up) and, if asked,
    the last (a job's last step validates)."""
    gaps = [b - a for a, b in itertools.pairwise(ends)][1:]
    return statistics.median(gaps[:-1] if drop_last else gaps)


class Stamps:
    """An events sink for `run_job` that notes the time of each `metrics` event."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def emit(self, type: str, *args: Any, **kwargs: Any) -> None:
        if type == "metrics":
            self.ends.append(time.perf_counter())


def trl_step_time(model: Any, reward: Any, rows: list[dict[str, Any]], **config: Any) -> float:
    """Train a bare TRL `GRPOTrainer` on `rows` (`prompt` plus reward columns) from the model
    directory `model`, with `GRPOConfig(**config)`; return its step time."""
    import contextlib
    import io
    import tempfile

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    ends: list[float] = []

    class Stamp(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    quiet = {"save_strategy": "no", "report_to": "none", "disable_tqdm": True}
    with tempfile.TemporaryDirectory() as out:
        trainer = GRPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(model),
            reward_funcs=reward,
            args=GRPOConfig(output_dir=out, logging_steps=10_000, seed=0, **quiet, **config),
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(model),
            callbacks=[Stamp()],
        )
        with contextlib.redirect_stdout(io.StringIO()):  # TRL prints its final log dict
            trainer.train()
    return step_time(ends, drop_last=False)
