"""`openrft train` as a user runs it: job-file mistakes, the summary at 80 columns, re-runs of
an edited file, paths relative to the job file, and Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openrft.cli.main import main
from tests.support.signals import ctrl_c_reaches_it
from tests.train.helpers import demo_method, tiny_home


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warm-started openrft-tiny model directory (built once per session)."""
    return tiny_home(tmp_path_factory) / "models" / "openrft-tiny"


def _home(tiny: Path, folder: Path) -> Path:
    home = folder / "home"
    shutil.copytree(tiny, home / "models" / "openrft-tiny")
    return home


def _job(folder: Path, *, rows: int = 4, **extra: Any) -> Path:
    from openrft.demo.task import make_rows

    folder.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train.jsonl", rows, 1), ("valid.jsonl", 4, 2)):
        text = "".join(json.dumps(row) + "\n" for row in make_rows(count, seed))
        (folder / name).write_text(text)
    hp = {"batch_size": 2, "n_epochs": 1, "eval_interval": 1}
    body = {
        "model": "openrft-tiny",
        "training_file": "train.jsonl",
        "validation_file": "valid.jsonl",
        "method": demo_method(**hp),
        "settings": {"max_completion_tokens": 8},
        **extra,
    }
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def _edit(job: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    body = json.loads(job.read_text())
    change(body)
    job.write_text(json.dumps(body))
    return job


def _hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    hp: dict[str, Any] = body["method"]["reinforcement"]["hyperparameters"]
    return hp


def _run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """The real `openrft` entry point, in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["openrft", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


def _typo_hyperparameter(body: dict[str, Any]) -> None:
    _hyperparameters(body)["batch_sise"] = 2


def _typo_setting(body: dict[str, Any]) -> None:
    body["settings"] = {"lora_rnk": 2}


def _supervised(body: dict[str, Any]) -> None:
    body["method"] = {"type": "supervised", "supervised": {"hyperparameters": {}}}


def _typo_training_file(body: dict[str, Any]) -> None:
    body["trainig_file"] = body.pop("training_file")


def _missing_training_file(body: dict[str, Any]) -> None:
    body["training_file"] = "nope.jsonl"


def _bad_grader(body: dict[str, Any]) -> None:
    body["method"]["reinforcement"]["grader"]["operation"] = "equals"


def _bad_eval_grader(body: dict[str, Any]) -> None:
    grader = {**body["method"]["reinforcement"]["grader"], "operation": "equals"}
    body["settings"]["eval_grader"] = grader


def _judge_check_without_judge(body: dict[str, Any]) -> None:
    rows = [{"sample": str(i), "human": i % 2} for i in range(4)]
    body["settings"]["judge_check"] = {"rows": rows}  # the job's grader is a string_check


def _unknown_model(body: dict[str, Any]) -> None:
    body["model"] = "someone/no-such-model"


def _missing_model_dir(body: dict[str, Any]) -> None:
    body["model"] = "./models/mine"


MISTAKES = [
    (_typo_hyperparameter, "`method.reinforcement.hyperparameters.batch_sise`", "`batch_size`?"),
    (_typo_setting, "`settings.lora_rnk`", "did you mean `lora_rank`?"),
    (_supervised, "`method.type`", '"type": "reinforcement"'),
    (_typo_training_file, "`trainig_file`", "did you mean `training_file`?"),
    (_missing_training_file, "`training_file`", "nope.jsonl"),
    (_bad_grader, "`method.reinforcement.grader`", "operation"),
    (_bad_eval_grader, "`settings.eval_grader`", "operation"),
    (_judge_check_without_judge, "`settings.judge_check`", "no model grader"),
    (_unknown_model, "`model`", "Hugging Face cache"),
    (_missing_model_dir, "`model`", "models/mine"),
]


@pytest.mark.parametrize(
    ("mistake", "field", "fix"), MISTAKES, ids=lambda m: getattr(m, "__name__", "")
)
def test_every_job_file_mistake_is_one_line_naming_file_field_and_fix(
    mistake: Callable[[dict[str, Any]], None],
    field: str,
    fix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    job = _edit(_job(tmp_path), mistake)
    code, out, err = _run_main(
        ["train", str(job), "--home", str(tmp_path / "home")], monkeypatch, capsys
    )
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"openrft: error: {job}: "), err
    assert field in lines[0] and fix in lines[0], err
    assert not (tmp_path / "home" / "jobs").exists()  # nothing started


def test_a_name_that_is_no_hub_id_never_reaches_the_hub_online(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    job = _edit(_job(tmp_path), lambda body: body.update(model="my model!"))
    code, _, err = _run_main(
        ["train", str(job), "--home", str(tmp_path / "home")], monkeypatch, capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "`model`" in err and "my model!" in err


def _cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "OPENRFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "openrft.cli", "train", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One 2-step job whose model is a directory given relative to the job file, run from
    another working directory with COLUMNS=80."""
    root = tmp_path_factory.mktemp("trained")
    home = _home(tiny, root)
    job = _job(root / "project", model="weights/base")
    shutil.copytree(tiny, root / "project" / "weights" / "base")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    done = _cli([str(job)], elsewhere, home)
    return {"done": done, "job": job, "home": home, "cwd": elsewhere}


def _checkpoints(home: Path) -> list[Path]:
    return sorted(p for p in (home / "jobs").glob("*/checkpoints/step-*") if p.is_dir())


def test_a_model_directory_is_relative_to_the_job_file(trained: dict[str, Any]) -> None:
    done = trained["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    saved = json.loads(next((trained["home"] / "jobs").glob("*/job-spec.json")).read_text())
    assert saved["model"] == str(trained["job"].parent / "weights" / "base")


def test_the_summary_keeps_every_path_whole_at_80_columns(trained: dict[str, Any]) -> None:
    done = trained["done"]
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    kept = _checkpoints(trained["home"])
    assert len(kept) == 2
    for path in kept:
        assert str(path) in lines, done.stdout  # a line of its own, never cut or wrapped
    name = next(line for line in lines if line.startswith("ft:"))  # the model's name, whole
    short = [line for line in lines if line not in {name, *map(str, kept)}]
    assert all(len(line) <= 80 for line in short), done.stdout


def test_a_rerun_resumes_the_same_job_and_refuses_an_edited_one(trained: dict[str, Any]) -> None:
    job, home, cwd = trained["job"], trained["home"], trained["cwd"]
    assert trained["done"].returncode == 0
    before = _checkpoints(home)
    again = _cli([str(job)], cwd, home)
    assert again.returncode == 0 and "Resumed from step 2" in again.stderr, again.stderr
    journal = next((home / "jobs").glob("*/events.jsonl")).read_text().splitlines()
    messages = [json.loads(line)["message"] for line in journal]
    assert messages.count("The job has successfully completed") == 1  # announced once, ever
    _edit(job, lambda body: _hyperparameters(body).update(n_epochs=3))
    edited = _cli([str(job)], cwd, home)
    assert edited.returncode == 2, edited.stdout + edited.stderr
    lines = edited.stderr.strip().splitlines()
    assert len(lines) == 1 and "`method.reinforcement.hyperparameters.n_epochs`" in lines[0]
    assert "Resumed" not in edited.stderr and _checkpoints(home) == before
    _edit(job, lambda body: _hyperparameters(body).update(n_epochs=1))
    restored = _cli([str(job)], cwd, home)
    assert restored.returncode == 0, restored.stderr  # the same job again: finished, as it was
    assert _checkpoints(home) == before and str(before[-1]) in restored.stdout.splitlines()[-1]


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tiny: Path, tmp_path: Path) -> None:
    home = _home(tiny, tmp_path)
    job = _job(tmp_path / "project", rows=8, id="ftjob-ctrl-c")
    _edit(job, lambda body: _hyperparameters(body).update(batch_size=1, n_epochs=50))
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "openrft.cli", "train", str(job), "--home", str(home)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=ctrl_c_reaches_it)  # fmt: skip
    first = home / "jobs" / "ftjob-ctrl-c" / "checkpoints" / "step-1"
    deadline = time.monotonic() + 240
    try:
        while not first.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()  # a failure above must not leave it training
        process.wait()
    assert process.returncode == 130, out + err
    kept = max(
        (p for p in first.parent.glob("step-*") if p.name[5:].isdigit()),
        key=lambda p: int(p.name[5:]),
    )
    assert f"kept: checkpoint step {kept.name[5:]} at {kept}" in err, err
    assert f"resume with: openrft train {job} --home {home}" in err, err
    assert "Traceback" not in err
    assert err.count("openrft: interrupted") == 1, err  # said once, by train, not again by main
