"""`openrft demo --model`: a task per base model, and a one-line error for a model without one.
(The real-model loop itself is `tests/train/test_real_model_learns.py`.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openrft.demo.run import DemoSettings
from openrft.demo.tasks import SMOLLM2, TASKS, TINY
from openrft.graders import Sample, grade, validate_grader


def test_each_base_model_has_a_task_whose_grader_tells_right_from_wrong() -> None:
    assert set(TASKS) == {"openrft-tiny", "smollm2-135m-instruct"}
    for demo in TASKS.values():
        settings = DemoSettings.for_task(demo, Path("unused"))
        row = demo.valid(settings.valid_rows, settings.seed + 1)[0]
        grader = validate_grader(demo.grader)
        right = grade(grader, Sample.from_text(row["reference"]), row)
        wrong = grade(grader, Sample.from_text(demo.wrong(row["reference"])), row)
        assert (right.reward, wrong.reward) == (1.0, 0.0)


def test_the_real_models_validation_rows_are_held_out() -> None:
    settings = DemoSettings.for_task(SMOLLM2, Path("unused"))
    assert settings.task.settings == {"lora_rank": 8, "max_completion_tokens": 8}
    train = {r["reference"] for r in SMOLLM2.train(settings.train_rows, settings.seed)}
    valid = {r["reference"] for r in SMOLLM2.valid(settings.valid_rows, settings.seed + 1)}
    assert len(valid) == settings.valid_rows and not train & valid
    assert SMOLLM2.chat[-1]["content"] == "What is 9 + 4?" and "9 + 4 = 13" in valid
    assert DemoSettings.for_task(TINY, Path("unused"), n_epochs=1).n_epochs == 1


def test_a_model_without_a_demo_task_is_a_one_line_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "openrft.cli", "demo", "--model", "gpt-4o",
               "--home", str(tmp_path / "home")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "smollm2-135m-instruct" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()  # refused before anything started
