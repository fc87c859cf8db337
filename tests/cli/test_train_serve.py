"""The model `openrft train` prints is served by `openrft serve` on the same home, by that
name, through the official SDK (models list/retrieve, chat completions, its checkpoints), and
still after the home is moved (`mv home home2`); a model whose folder is gone is a 404 by
name that shows no server path. Real trainer, real servers on loopback, real SQLite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.support.loopback import free_port, wait_healthy
from tests.train.helpers import demo_method, tiny_home

ENV = {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
ASK = [{"role": "user", "content": "sort 31:"}]


def write_job(folder: Path) -> Path:
    from openrft.demo.task import make_rows

    for name, rows in (("train.jsonl", make_rows(4, 1)), ("valid.jsonl", make_rows(4, 2))):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    hp = {"batch_size": 2, "n_epochs": 1, "eval_interval": 1, "eval_samples": 1}
    body = {
        "model": "openrft-tiny",
        "training_file": "train.jsonl",
        "validation_file": "valid.jsonl",
        "method": demo_method(**hp),
        "suffix": "sorter",
        "settings": {"device": "cpu"},
    }
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def train(job: Path, home: Path) -> str:
    """Run `openrft train` with OPENRFT_HOME=home; the model name it printed."""
    env = {**os.environ, **ENV, "OPENRFT_HOME": str(home)}
    command = [sys.executable, "-m", "openrft.cli", "train", str(job)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"^model:\s+(ft:\S+)\s*$", result.stdout, re.MULTILINE)
    assert found is not None, result.stdout
    return found.group(1)


@contextmanager
def openrft_serve(home: Path) -> Iterator[OpenAI]:
    port = free_port()
    env = {**os.environ, **ENV, "OPENRFT_HOME": str(home)}
    command = [sys.executable, "-m", "openrft.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_healthy(port, process, bound=60)
        with OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as sdk:
            yield sdk
    finally:
        process.kill()
        process.wait()


def check_served(sdk: OpenAI, name: str) -> None:
    assert name in [model.id for model in sdk.models.list()]
    assert sdk.models.retrieve(name).owned_by == "openrft"
    reply = sdk.chat.completions.create(model=name, messages=ASK, max_tokens=8)  # type: ignore[arg-type]
    assert reply.model == name and reply.choices[0].message.content is not None


def test_the_name_train_prints_is_served_from_the_same_home_and_a_moved_one(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path / "home"
    shutil.copytree(tiny_home(tmp_path_factory) / "models", home / "models")
    name = train(write_job(tmp_path), home)
    assert name.startswith("ft:openrft-tiny:openrft:sorter:")
    with openrft_serve(home) as sdk:
        check_served(sdk, name)
        check_served(sdk, f"{name}:ckpt-step-1")
        job = sdk.fine_tuning.jobs.list().data[0]
        assert (job.status, job.fine_tuned_model) == ("succeeded", name)
        steps = [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job.id)]
        assert steps == [2, 1]
        messages = [event.message for event in sdk.fine_tuning.jobs.list_events(job.id)]
        assert f"New fine-tuned model created: {name}" in messages

    moved = tmp_path / "home2"
    shutil.move(home, moved)  # `mv home home2`
    with openrft_serve(moved) as sdk:
        check_served(sdk, name)
        step_1 = moved / "jobs" / job.id / "checkpoints" / "step-1"
        with (step_1 / "model" / "model.safetensors").open("ab") as weights:
            weights.write(b"\0")  # no longer what the manifest says
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.chat.completions.create(model=f"{name}:ckpt-step-1", messages=ASK)  # type: ignore[arg-type]
        assert "step-1" in bad.value.message and str(tmp_path) not in bad.value.message
        shutil.rmtree(step_1)
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model=f"{name}:ckpt-step-1", messages=ASK)  # type: ignore[arg-type]
        message = caught.value.message
        assert f"{name}:ckpt-step-1" in message and str(tmp_path) not in message


def test_a_lora_model_loads_from_a_moved_home(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A LoRA checkpoint names its base model by name (`openrft-tiny`), not by the folder it
    was loaded from, so the moved home's own copy of the base is used."""
    from openrft.models.registry import load_model
    from openrft.train.runner import run_job
    from tests.train.helpers import ListSink, demo_spec

    home = tmp_path / "home"
    shutil.copytree(tiny_home(tmp_path_factory) / "models", home / "models")
    spec = demo_spec(1, batch=2, valid=2, settings={"lora_rank": 2, "device": "cpu"})
    outcome = run_job(spec, workdir=home / "jobs" / spec.id, home=home, events=ListSink())
    assert outcome.status == "succeeded" and outcome.fine_tuned_model_path is not None
    final = Path(outcome.fine_tuned_model_path).relative_to(home)
    config = json.loads((home / final / "model" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "openrft-tiny"
    moved = tmp_path / "home2"
    shutil.move(home, moved)
    loaded = load_model(str(moved / final), home=moved, device="cpu")
    assert loaded.path == moved / final / "model"
