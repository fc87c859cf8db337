"""A real pretrained chat model learns: SmolLM2-135M-Instruct, LoRA, through `openrft serve`.

The whole path a user takes, on the real model: `openrft serve` (a subprocess, the alias
allow-listed), the official SDK uploads the rows, creates a reinforcement job (openrft's
`settings` via `extra_body`), the server's worker trains it, the events report the baseline
and final validation rewards, and the fine-tuned model answers through `chat.completions`.

Task (`openrft.demo.sums`): single-digit sums written as an equation, graded by string_check
`eq`. Measured here (seed 7; 32 held-out validation rows × 2 answers sampled at T=1, as the job
validates): the validation reward goes from 0.55 to 0.88 (+0.33) after 6 steps of 4 prompts ×
4 samples; other seeds gave +0.25 and +0.34. The test asserts a gain of at least 0.15. It took
147 CPU-seconds on one thread (the alias import included), 5 min wall on a shared machine.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.demo import sums
from openrft.demo.server import local_server
from tests.support.smollm2 import smollm2_home

pytestmark = pytest.mark.slow
STEPS, BATCH = 6, 4
MIN_GAIN = 0.15


def jsonl(rows: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))


@pytest.fixture
def home(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh OPENRFT_HOME whose models/ is the session's import of the alias."""
    shared = smollm2_home(tmp_path_factory) / "models"
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(shared, target_is_directory=True)
    return home


def _wait(sdk: OpenAI, job_id: str) -> Any:
    deadline = time.monotonic() + 1800  # a bound, not a timing assert: CI runners vary a lot
    while (job := sdk.fine_tuning.jobs.retrieve(job_id)).status not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, f"job still {job.status}"
        time.sleep(1)
    return job


def _validation_rewards(sdk: OpenAI, job_id: str) -> dict[int, float]:
    """step -> full validation mean reward, the baseline (step 0) included."""
    rewards: dict[int, float] = {}
    for event in sdk.fine_tuning.jobs.list_events(job_id, limit=100):
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "metrics" and data.get("full_valid_mean_reward") is not None:
            rewards[int(data["step"])] = float(data["full_valid_mean_reward"])
        elif "valid_reward_mean" in data and event.message.startswith("Baseline"):
            rewards[0] = float(data["valid_reward_mean"])
    return rewards


def test_smollm2_learns_the_task_and_serves_the_result(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    train = sums.make_rows(STEPS * BATCH, seed=1)
    valid = sums.make_rows(sums.VALID_PAIRS, seed=2, split="valid")
    assert not {r["reference"] for r in train} & {r["reference"] for r in valid}  # held out
    hyper = {"batch_size": BATCH, "n_epochs": 1, "eval_interval": STEPS, "eval_samples": 2,
             "compute_multiplier": 0.5, "learning_rate_multiplier": sums.LR_MULTIPLIER}  # fmt: skip
    with (
        local_server(home, base_models=(sums.ALIAS,)) as base_url,
        OpenAI(base_url=base_url, api_key="unused", max_retries=0) as sdk,
    ):
        train_file = sdk.files.create(file=("t.jsonl", jsonl(train)), purpose="fine-tune")
        valid_file = sdk.files.create(file=("v.jsonl", jsonl(valid)), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(
            model=sums.ALIAS, training_file=train_file.id, validation_file=valid_file.id,
            seed=7, suffix="sums",
            method={"type": "reinforcement", "reinforcement": {"grader": sums.GRADER, "hyperparameters": hyper}},  # type: ignore[typeddict-item]
            extra_body={"settings": sums.SETTINGS},
        )  # fmt: skip
        done = _wait(sdk, job.id)
        assert done.status == "succeeded", done.error
        rewards = _validation_rewards(sdk, job.id)
        assert sorted(rewards) == [0, STEPS]
        assert 0.3 < rewards[0] < 0.85  # the base model is measurably imperfect here
        assert rewards[STEPS] - rewards[0] >= MIN_GAIN, rewards

        model = str(done.fine_tuned_model)
        assert model.startswith(f"ft:{sums.ALIAS}:")
        answers = []
        for question in valid[:3]:  # held-out questions
            reply = sdk.chat.completions.create(
                model=model,
                messages=question["messages"],
                temperature=0,
                max_completion_tokens=16,
            )
            choice = reply.choices[0]
            assert choice.finish_reason == "stop"
            answers.append((choice.message.content, question["reference"]))
        assert all(text == reference for text, reference in answers), answers
