"""Every reported number is defined once (openrft.evals.measures), and shows one value everywhere.

The registry covers every key a job's metrics event carries and every column the eval table
shows; docs/evals.md carries it as a table; an eval run's console summary, its HTML report and
its JSON show the same numbers, each beside the registry's label.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.evals import measures, views
from openrft.evals.compare import ModelEval
from openrft.graders import GradeResult, validate_grader
from openrft.train.eval_metric import EVAL_KEY
from openrft.train.metrics import SplitStats, metrics_data
from tests.support import scripted_model
from tests.support.loopback import serve

ROOT = Path(__file__).resolve().parents[2]
EXACT = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
         "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip
MULTI = {"type": "multi", "name": "both", "calculate_output": "a",
         "graders": {"a": EXACT}}  # fmt: skip
STRUCTURE = {"step", "total_steps", "name", "type", "model"}
"""Keys that name or place a number rather than being one."""


def _stats(results: list[GradeResult]) -> SplitStats:
    return SplitStats(results, [3] * len(results), prompts=2, reasoning_tokens=[0] * len(results))


def _judged(reward: float) -> GradeResult:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "cached_tokens": 1, "total_tokens": 7}
    return GradeResult(reward, sub_rewards={"a": reward}, usage_per_model={"judge": usage})  # type: ignore[dict-item]


def _number_keys(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(key, path) of every number or null leaf; judge-model names and step phases are data."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if path.endswith("model_graders_token_usage") or path.endswith("timing.step"):
                yield from (
                    (("step_seconds", where),) if "timing" in path else _number_keys(item, where)
                )
            elif key not in STRUCTURE:
                yield from (
                    _number_keys(item, where) if isinstance(item, dict | list) else [(key, where)]
                )
    elif isinstance(value, list):
        for item in value:
            yield from _number_keys(item, f"{path}[]")


def test_every_key_of_a_metrics_event_is_a_defined_measure() -> None:
    results = [_judged(1.0), _judged(0.0)]
    data = metrics_data(validate_grader(MULTI), step=1, total_steps=2, train=_stats(results),
                        valid=_stats(results), timing={"sampling": 0.1, "full_iteration": 0.2})  # fmt: skip
    found = dict(_number_keys(data))
    assert {"valid_reward_mean", "full_valid_mean_reward", "eval_prompt_tokens"} <= set(found)
    missing = {key: where for key, where in found.items() if key not in measures.MEASURES}
    assert not missing, f"metrics keys with no definition in openrft/evals/measures.py: {missing}"


def test_the_runners_extra_metric_keys_are_defined_measures() -> None:
    """Keys the training loop adds to a step's stats (`extra[...]`) beside metrics_data's own."""
    source = (ROOT / "openrft/train/runner.py").read_text()
    keys = set(re.findall(r'extra\["(\w+)"\]', source)) | set(
        re.findall(r'extra = \{"(\w+)"', source)
    )
    judge_check = (ROOT / "openrft/train/judge_gate.py").read_text()
    keys |= set(re.findall(r'^METRIC = "(\w+)"', judge_check, re.M))  # settings.judge_check's
    assert keys and EVAL_KEY in measures.MEASURES and "judge_check_spearman" in keys
    assert not keys - set(measures.MEASURES)


def test_every_eval_table_column_is_labelled_by_the_registry() -> None:
    result = _model_eval()
    row = views.eval_rows([result])[0]
    labels = {m.label for m in measures.MEASURES.values()}
    columns = [c for c in row if c != "model"]
    assert [c for c in columns if c not in labels] == ["pass@2"]  # pass@k, k filled in
    assert measures.label("mean_reward") in row and measures.label("latency_p95_s") in row


def _model_eval() -> ModelEval:
    fields = {
        name: 0.0 for name in ModelEval.__dataclass_fields__ if name not in {"model", "overall"}
    }
    overall = {"rows": 3, "mean_reward": 0.5, "reward_ci": None, "pass_rate": 0.5}
    return ModelEval(**{**fields, "model": "m", "samples_per_row": 2, "slices": {},  # type: ignore[arg-type]
                        "row_rewards": [], "overall": _slice(overall)})  # fmt: skip


def _slice(values: dict[str, Any]) -> Any:
    from openrft.evals.compare import SliceStats

    fields = {name: 0.0 for name in SliceStats.__dataclass_fields__}
    return SliceStats(**{**fields, **values})


def test_the_docs_table_is_the_registry() -> None:
    page = (ROOT / "docs/evals.md").read_text()
    table = page.split("<!-- measures:begin -->\n")[1].split("<!-- measures:end -->")[0]
    assert table == measures.markdown_table()


def test_registry_labels_are_unique_and_every_measure_says_what_it_is_over() -> None:
    labels = [m.label for m in measures.MEASURES.values()]
    assert len(labels) == len(set(labels))
    for m in measures.MEASURES.values():
        assert m.split and m.grader and m.decoding and m.samples and m.what, m.key


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with serve(scripted_model.app()) as base:
        yield f"{base}/v1"


def test_eval_summary_report_and_json_show_the_same_numbers(endpoint: str, tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": f"sort {d}:"}],
             "reference": "".join(sorted(d))} for d in ("321", "97", "5", "4312", "10")]  # fmt: skip
    data = tmp_path / "valid.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    grader = tmp_path / "grader.json"
    grader.write_text(json.dumps(EXACT))
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "openrft.cli", "eval", "-m", "reverser", "-d", str(data),
               "-g", str(grader), "--base-url", endpoint, "--samples", "2", "--temperature", "0",
               "--report", str(tmp_path / "eval")]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    how = "5 rows × 2 answers greedy, grader exact"
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["measured"] == how and how in " ".join(done.stdout.split())
    overall = saved["models"][0]["overall"]
    assert 0 < overall["mean_reward"] < 1  # "5", "10"?: reverser sorts descending
    page = (tmp_path / "eval.html").read_text()
    shown = f"{overall['mean_reward']:.4g}"
    console_row = next(line for line in done.stdout.splitlines() if "reverser" in line)
    cells = [c.strip() for c in re.split(r"[│|]", console_row) if c.strip()]
    header = next(line for line in done.stdout.splitlines() if "mean reward" in line)
    names = [c.strip() for c in re.split(r"[│|┃]", header) if c.strip()]
    assert cells[names.index(measures.label("mean_reward"))] == shown
    assert f"<td>{shown}</td>" in page
    # the HTML report defines each column it shows, under what the run was over
    assert html.escape(how) in page
    for key in ("mean_reward", "pass_rate", "latency_p95_s"):
        assert html.escape(measures.MEASURES[key].what) in page


def test_the_demo_reads_the_event_keys_its_curve_is_defined_by() -> None:
    """The demo's curve points are the metrics keys the registry says they are."""
    tree = ast.parse((ROOT / "openrft/demo/run.py").read_text())
    read = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "attr", "") == "get" and n.args
            and isinstance(n.args[0], ast.Constant)}  # fmt: skip
    for key in ("curve[].train", "curve[].valid", "baseline_valid"):
        source = re.search(r"(\w+_reward\w*)", measures.MEASURES[key].what)
        assert source and source.group(1) in read | {"valid_reward_mean"}, key
        assert source.group(1) in measures.MEASURES


def test_a_steps_metrics_event_and_its_eval_run_show_the_same_validation_reward(
    tmp_path: Path,
) -> None:
    """The same validation answers: the event's valid_reward_mean is the run's mean item score,
    and (a 0/1 grader) its passed / total."""
    from openrft.evals.records import EvalStore
    from openrft.jobs.validation_runs import ValidationRuns
    from openrft.store.db import Database, loads
    from tests.evals.test_job_runs import GRADER, answers, job_with_eval

    db = Database(tmp_path)
    store = EvalStore(db)
    job = job_with_eval(db, store)
    graded = answers("1")  # one of the three rows answered right
    ValidationRuns(store, job, validate_grader(GRADER))(2, graded)  # type: ignore[arg-type]
    valid = _stats([grade for _, _, grade, _ in graded])
    event = metrics_data(validate_grader(GRADER), step=2, total_steps=2, train=valid,
                         valid=valid, timing={})  # fmt: skip
    run = store.run_page("alpha", str(job["eval_id"]), None, 10, "asc", None)[0][0]
    items, _ = store.item_page("alpha", str(job["eval_id"]), run["id"], None, 10, "asc", None)
    scores = [item["results"][0]["score"] for item in items]
    counts = loads(run["counts"])
    for key in ("valid_reward_mean", "result_counts.passed", "results[].score"):
        assert key in measures.MEASURES
    assert event["scores"]["valid_reward_mean"] == pytest.approx(sum(scores) / len(scores))
    assert event["full_valid_mean_reward"] == counts["passed"] / counts["total"] == 1 / 3


def test_the_gate_report_says_what_its_numbers_are_over(endpoint: str, tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": f"sort {d}:"}],
             "reference": "".join(sorted(d))} for d in ("321", "97", "4312")]  # fmt: skip
    data = tmp_path / "valid.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    grader = tmp_path / "grader.json"
    grader.write_text(json.dumps(EXACT))
    command = [sys.executable, "-m", "openrft.cli", "gate", "--candidate", "sorter",
               "--baseline", "reverser", "-d", str(data), "-g", str(grader), "--base-url",
               endpoint, "--seed", "3", "--report", str(tmp_path / "gate")]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "160"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    how = "3 rows × 1 answer sampled at T=1, seed 3 on every request, grader exact"
    assert json.loads((tmp_path / "gate.json").read_text())["measured"] == how
    page = (tmp_path / "gate.html").read_text()
    assert html.escape(how) in page and html.escape(measures.MEASURES["pass_rate"].what) in page
