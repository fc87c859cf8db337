"""Project isolation, black-box through the official SDK on a live server: project beta (key
`key-b`) tries every route that takes a model, file, job, eval or run id with project alpha's
ids and with alpha's filesystem paths (a checkpoint directory, its `model/` folder, absolute
and relative to the working directory), and hostile paths (`/etc`, `/`, `/proc/self`, `.`,
`../../../../etc`) as `model` with either key. Every answer is a 404, or a 400 naming the field
for a create body (docs/server.md), and never alpha's data; a path as `model` answers at once.

Also here: the operator's base-model allow-list (a named directory serves, its path does not)
and what `GET /health` says with no key, with one project's key and with another's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import pytest
from openai import OpenAI

from openrft.errors import InvalidRequestError
from openrft.jobs.models import parse_base_models
from openrft.server import Settings
from tests.server.conftest import KEYS, Live, live_server
from tests.server.fakes import FakeBackend

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
ROWS = b"".join(
    b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
    for i in range(6)
)
EVAL_ROWS = b'{"item": {"answer": "1"}, "sample": {"output_text": "1"}}\n'
CONFIG: Any = {"type": "custom", "item_schema": {"type": "object", "properties": {
    "answer": {"type": "string"}}, "required": ["answer"]}}  # fmt: skip
ASK: Any = {"type": "template", "template": [{"role": "user", "content": "{{item.answer}}"}]}
USER: Any = [{"role": "user", "content": "abc"}]
HOSTILE = ["/etc", "/", "/proc/self", ".", "..", "../../../../etc", "/etc/passwd", "~"]
METHOD: Any = {"type": "reinforcement", "reinforcement": {"grader": GRADER,
               "hyperparameters": {"n_epochs": 1, "batch_size": 2}}}  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The shared two-project server, with one operator-allowed base model that is a dir."""
    home = tmp_path_factory.mktemp("home")
    local = tmp_path_factory.mktemp("local-model")
    settings = Settings(home=home, api_keys=dict(KEYS), lease_seconds=3)
    settings.base_models["local-model"] = str(local)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
        with live_server(settings, FakeBackend()) as server:
            yield server


def client(live: Live, key: str, strict: bool = False) -> OpenAI:
    # A hang would fail as a timeout rather than stall the suite.
    return OpenAI(base_url=live.base_url, api_key=key, max_retries=0, timeout=30,
                  _strict_response_validation=strict)  # fmt: skip


@dataclass
class World:
    """What project alpha owns: ids, model names and the paths of its weights."""

    file: str
    job: str
    job_eval: str
    model: str
    checkpoint: str
    checkpoint_dir: Path
    eval: str
    run: str
    item: str
    eval_file: str

    def paths(self) -> list[str]:
        ckpt = self.checkpoint_dir
        relative = os.path.relpath(ckpt, Path.cwd())
        return [str(ckpt), str(ckpt / "model"), relative, os.path.join(relative, "model"),
                str(ckpt.parent), str(ckpt.parents[2]), f"./{relative}"]  # fmt: skip


def _finished(sdk: OpenAI, job_id: str) -> Any:
    import time

    deadline = time.monotonic() + 60
    while (job := sdk.fine_tuning.jobs.retrieve(job_id)).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.05)
    return job


def _completed_run(sdk: OpenAI, eval_id: str, file_id: str) -> Any:
    import time

    source = {"type": "jsonl", "source": {"type": "file_id", "id": file_id}}
    run = sdk.evals.runs.create(eval_id, data_source=source)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while (run := sdk.evals.runs.retrieve(run.id, eval_id=eval_id)).status != "completed":
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.05)
    return run


@pytest.fixture(scope="module")
def world(live: Live) -> World:
    with client(live, "key-a") as sdk:
        file = sdk.files.create(file=("rows.jsonl", ROWS), purpose="fine-tune").id
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=file, method=METHOD)
        done = _finished(sdk, job.id)
        assert done.status == "succeeded" and done.fine_tuned_model, done.error
        ckpts = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[GRADER])  # type: ignore[list-item]
        eval_file = sdk.files.create(file=("e.jsonl", EVAL_ROWS), purpose="evals").id
        run = _completed_run(sdk, evaluation.id, eval_file)
        item = sdk.evals.runs.output_items.list(run.id, eval_id=evaluation.id).data[0]
        job_eval = done.to_dict()["eval_id"]
    step = ckpts[-1].step_number
    return World(
        file=file, job=job.id, job_eval=str(job_eval), model=done.fine_tuned_model,
        checkpoint=ckpts[-1].fine_tuned_model_checkpoint,
        checkpoint_dir=live.home / "jobs" / job.id / f"step-{step}",
        eval=evaluation.id, run=run.id, item=item.id, eval_file=eval_file,
    )  # fmt: skip


Probe = Callable[[OpenAI, World], Any]


def _by_id() -> dict[str, Probe]:
    """Every route that takes one of alpha's ids in its URL: each must be a 404 for beta."""
    jobs = "fine_tuning.jobs"
    return {
        "files.retrieve": lambda b, w: b.files.retrieve(w.file),
        "files.content": lambda b, w: b.files.content(w.file),
        "files.delete": lambda b, w: b.files.delete(w.file),
        f"{jobs}.retrieve": lambda b, w: b.fine_tuning.jobs.retrieve(w.job),
        f"{jobs}.list_events": lambda b, w: b.fine_tuning.jobs.list_events(w.job),
        f"{jobs}.checkpoints.list": lambda b, w: b.fine_tuning.jobs.checkpoints.list(w.job),
        f"{jobs}.cancel": lambda b, w: b.fine_tuning.jobs.cancel(w.job),
        f"{jobs}.pause": lambda b, w: b.fine_tuning.jobs.pause(w.job),
        f"{jobs}.resume": lambda b, w: b.fine_tuning.jobs.resume(w.job),
        "models.retrieve ft": lambda b, w: b.models.retrieve(w.model),
        "models.retrieve ckpt": lambda b, w: b.models.retrieve(w.checkpoint),
        "models.delete ft": lambda b, w: b.models.delete(w.model),
        "models.delete ckpt": lambda b, w: b.models.delete(w.checkpoint),
        "chat ft": lambda b, w: b.chat.completions.create(model=w.model, messages=USER),
        "chat ckpt": lambda b, w: b.chat.completions.create(model=w.checkpoint, messages=USER),
        "chat stream ft": lambda b, w: b.chat.completions.create(
            model=w.model, messages=USER, stream=True
        ),
        "embeddings ft": lambda b, w: b.embeddings.create(model=w.model, input="a"),
        "embeddings ckpt": lambda b, w: b.embeddings.create(model=w.checkpoint, input="a"),
        "evals.retrieve": lambda b, w: b.evals.retrieve(w.eval),
        "evals.retrieve job eval": lambda b, w: b.evals.retrieve(w.job_eval),
        "evals.update": lambda b, w: b.evals.update(w.eval, name="stolen"),
        "evals.delete": lambda b, w: b.evals.delete(w.eval),
        "runs.create": lambda b, w: b.evals.runs.create(w.eval, data_source=_jsonl(w.eval_file)),
        "runs.list": lambda b, w: b.evals.runs.list(w.eval),
        "runs.retrieve": lambda b, w: b.evals.runs.retrieve(w.run, eval_id=w.eval),
        "runs.cancel": lambda b, w: b.evals.runs.cancel(w.run, eval_id=w.eval),
        "runs.delete": lambda b, w: b.evals.runs.delete(w.run, eval_id=w.eval),
        "output_items.list": lambda b, w: b.evals.runs.output_items.list(w.run, eval_id=w.eval),
        "output_items.retrieve": lambda b, w: b.evals.runs.output_items.retrieve(
            w.item, eval_id=w.eval, run_id=w.run
        ),
    }


def _jsonl(file_id: str) -> Any:
    return {"type": "jsonl", "source": {"type": "file_id", "id": file_id}}


@pytest.mark.parametrize("route", sorted(_by_id()))
def test_another_projects_ids_answer_404(live: Live, world: World, route: str) -> None:
    with client(live, "key-b") as other, pytest.raises(openai.NotFoundError) as caught:
        _by_id()[route](other, world)
    assert str(live.home) not in caught.value.response.text


def _model_uses(sdk: OpenAI, model: str, own_file: str, own_eval: str) -> dict[str, Probe]:
    """Each route that takes a model name, called with `model`; (call, status, param)."""
    return {
        "chat": lambda b, w: sdk.chat.completions.create(model=model, messages=USER),
        "chat stream": lambda b, w: sdk.chat.completions.create(
            model=model, messages=USER, stream=True
        ),
        "embeddings": lambda b, w: sdk.embeddings.create(model=model, input="a"),
        "models.retrieve": lambda b, w: sdk.get(_model_url(model), cast_to=object),
        "models.delete": lambda b, w: sdk.delete(_model_url(model), cast_to=object),
        "jobs.create": lambda b, w: sdk.fine_tuning.jobs.create(
            model=model, training_file=own_file, method=METHOD
        ),
        "runs.create": lambda b, w: sdk.evals.runs.create(
            own_eval, data_source=_answered_by(model, w.eval_file)
        ),
    }


def _answered_by(model: str, file_id: str) -> Any:
    source = {"type": "file_id", "id": file_id}
    return {"type": "completions", "model": model, "input_messages": ASK, "source": source}


CREATES = {"jobs.create": "model", "runs.create": "data_source.model"}


def _model_url(model: str) -> str:
    """`/models/{model}` with every byte of a path escaped: the SDK's `models.retrieve`
    refuses dot segments (`.`, `..`) itself, and a raw client must not normalise them away."""
    return "/models/" + quote(model, safe="").replace(".", "%2E")


def _own(sdk: OpenAI, purpose: str, content: bytes) -> str:
    return sdk.files.create(file=("own.jsonl", content), purpose=purpose).id  # type: ignore[arg-type]


def _expect_refused(call: Callable[[], Any], route: str, model: str) -> openai.APIStatusError:
    """404, or for a create body 400 model_not_found naming the field."""
    with pytest.raises(openai.APIStatusError) as caught:
        result = call()
        pytest.fail(f"{route} with {model!r} answered {result!r}")
    error = caught.value
    if route in CREATES:
        assert (error.status_code, error.code) == (400, "model_not_found"), (route, model)
        assert error.param == CREATES[route]
    else:
        assert error.status_code == 404, (route, model, error.response.text)
    return error


@pytest.mark.parametrize("key", ["key-a", "key-b"])
def test_a_path_is_never_a_model(live: Live, world: World, key: str) -> None:
    """Alpha's weight paths and hostile paths, from beta and from alpha itself."""
    with client(live, key) as sdk:
        own_file = _own(sdk, "fine-tune", ROWS)
        own_eval = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[GRADER]).id  # type: ignore[list-item]
        world = World(**{**world.__dict__, "eval_file": _own(sdk, "evals", EVAL_ROWS)})
        served_before = len(live.backend.calls)
        for model in [*world.paths(), *HOSTILE, str(live.home)]:
            for route, call in _model_uses(sdk, model, own_file, own_eval).items():
                error = _expect_refused(lambda: call(sdk, world), route, model)  # noqa: B023
                assert "ftjob-" not in error.response.text.replace(model, "")
        assert len(live.backend.calls) == served_before  # no path ever reached the model


def test_another_projects_models_cannot_train_or_be_evaluated(live: Live, world: World) -> None:
    with client(live, "key-b") as other:
        own_file = _own(other, "fine-tune", ROWS)
        own_eval = other.evals.create(data_source_config=CONFIG, testing_criteria=[GRADER]).id  # type: ignore[list-item]
        mine = World(**{**world.__dict__, "eval_file": _own(other, "evals", EVAL_ROWS)})
        for model in (world.model, world.checkpoint):
            for route in CREATES:
                call = _model_uses(other, model, own_file, own_eval)[route]
                _expect_refused(lambda: call(other, mine), route, model)  # noqa: B023
        with pytest.raises(openai.BadRequestError) as caught:
            other.fine_tuning.jobs.create(model="openrft-tiny", training_file=world.file,
                                          method=METHOD)  # fmt: skip
        assert caught.value.code == "invalid_training_file"
        with pytest.raises(openai.BadRequestError) as caught:
            other.evals.runs.create(own_eval, data_source=_jsonl(world.eval_file))
        assert caught.value.param == "data_source.source.id"
        ids = {model.id for model in other.models.list()}
        assert not {world.model, world.checkpoint} & ids
    with client(live, "key-a") as sdk:  # alpha's things are all still there
        assert sdk.models.retrieve(world.model).id == world.model
        assert sdk.files.retrieve(world.file).id == world.file
        assert sdk.evals.retrieve(world.eval).id == world.eval


def test_an_allowed_base_model_is_served_by_name_only(live: Live) -> None:
    target = live.app.state.settings.base_models["local-model"]
    with client(live, "key-b", strict=True) as sdk:
        assert "local-model" in {model.id for model in sdk.models.list()}
        reply = sdk.chat.completions.create(model="local-model", messages=USER)
        assert reply.choices[0].message.content == "cba" and reply.model == "local-model"
        assert live.backend.calls[-1][0] == target
        for model in (target, target + "/", os.path.relpath(target)):
            with pytest.raises(openai.NotFoundError) as caught:
                sdk.chat.completions.create(model=model, messages=USER)
            assert caught.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError):  # a base model is not deletable
            sdk.models.delete("local-model")


def test_a_job_from_an_allowed_directory_trains_on_it(live: Live) -> None:
    """The job child resolves the base model by the server's allow-list, not its own."""
    target = live.app.state.settings.base_models["local-model"]
    with client(live, "key-b") as sdk:
        file = _own(sdk, "fine-tune", ROWS)
        job = sdk.fine_tuning.jobs.create(model="local-model", training_file=file, method=METHOD)
        done = _finished(sdk, job.id)
        assert done.status == "succeeded", done.error
        assert done.model == "local-model"
    trained = live.home / "jobs" / job.id / "step-1" / "model.txt"
    assert trained.read_text() == target


def test_health_names_no_path_and_no_other_project(live: Live, world: World) -> None:
    with client(live, "key-a") as sdk:
        sdk.chat.completions.create(model=world.model, messages=USER)
        sdk.chat.completions.create(model="openrft-tiny", messages=USER)
    with client(live, "key-b") as sdk:
        sdk.chat.completions.create(model="openrft-tiny", messages=USER)
    anonymous = httpx.get(live.url + "/health")
    assert set(anonymous.json()) == {"status", "version", "auth", "sandbox", "worker"}
    wrong = httpx.get(live.url + "/health", headers={"Authorization": "Bearer nope"})
    assert set(wrong.json()) == set(anonymous.json())
    alpha = httpx.get(live.url + "/health", headers={"Authorization": "Bearer key-a"})
    beta = httpx.get(live.url + "/health", headers={"Authorization": "Bearer key-b"})
    assert world.model in alpha.json()["batching"]
    assert alpha.json()["batching"][world.model]["requests"] >= 1
    assert set(beta.json()["batching"]) <= {"openrft-tiny", "local-model"}
    for body in (anonymous.text, wrong.text, alpha.text, beta.text):
        assert str(live.home) not in body and world.job not in body
    assert world.model not in beta.text


def test_the_allow_list_is_read_from_the_environment_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENRFT_BASE_MODELS", raising=False)
    assert Settings.from_env(tmp_path).base_models == {"openrft-tiny": "openrft-tiny"}
    monkeypatch.setenv("OPENRFT_BASE_MODELS", f"openrft-tiny, smol={tmp_path}/., Org/hub-1.5")
    assert Settings.from_env(tmp_path).base_models == {
        "openrft-tiny": "openrft-tiny", "smol": str(tmp_path), "Org/hub-1.5": "Org/hub-1.5",
    }  # fmt: skip
    monkeypatch.setenv("OPENRFT_BASE_MODELS", "")
    assert Settings.from_env(tmp_path).base_models == {}
    for bad in ("../x", "/etc", "a/../b", "ft:x", ".", "x=/no/such/dir", f"x={tmp_path}/f"):
        (tmp_path / "f").write_text("not a directory")
        with pytest.raises(InvalidRequestError):
            parse_base_models([bad])
    env = {**os.environ, "OPENRFT_API_KEYS": "k:alpha"}
    refused = subprocess.run(
        [sys.executable, "-m", "openrft.cli", "serve", "--home", str(tmp_path),
         "--base-model", "mine=/no/such/dir"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "is not a directory" in refused.stderr


def test_a_job_whose_base_model_left_the_allow_list_fails_cleanly(live: Live) -> None:
    """As after a restart with a shorter list: the child fails the job, naming the model."""
    launcher = live.app.state.worker.launcher  # what passes the allow-list to the child
    allowed = dict(launcher.base_models)
    del launcher.base_models["local-model"]
    try:
        with client(live, "key-b") as sdk:
            file = _own(sdk, "fine-tune", ROWS)
            job = sdk.fine_tuning.jobs.create(
                model="local-model", training_file=file, method=METHOD
            )
            done = _finished(sdk, job.id)
    finally:
        launcher.base_models = allowed
    assert done.status == "failed" and done.error.code == "model_not_found"
    assert "local-model" in done.error.message and done.fine_tuned_model is None
