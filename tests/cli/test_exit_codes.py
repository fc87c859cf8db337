"""The CLI's exit codes (docs/cli.md): 0 ok, 1 a check failed, 2 usage or input, 130 Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from openrft.demo import task
from tests.support.signals import ctrl_c_reaches_it

OPENRFT = [sys.executable, "-m", "openrft.cli"]
GRADER = str(Path(task.__file__).parent / "grader.json")


def _valid(folder: Path) -> str:
    rows = task.make_rows(3, seed=5)
    (folder / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder / "valid.jsonl")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [*OPENRFT, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_usage_and_input_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    unknown = _run("grade", "--grader", GRADER, "--dta", "x.jsonl", cwd=tmp_path)
    assert unknown.returncode == 2 and "No such option: --dta" in unknown.stderr
    missing = _run("data", "lint", str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.jsonl: no such file" in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


def test_an_unreachable_model_server_is_an_input_error(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    done = _run("eval", "-m", "m", "-d", _valid(tmp_path), "-g", GRADER,
                "--base-url", f"http://127.0.0.1:{port}/v1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"openrft: error: cannot reach the model server at http://127.0.0.1:{port}/v1: "
        "Connection error."
    ]


def test_ctrl_c_exits_130_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts the request and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        command = [*OPENRFT, "eval", "-m", "m", "-d", _valid(tmp_path), "-g", GRADER,
                   "--base-url", url]  # fmt: skip
        proc = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                                preexec_fn=ctrl_c_reaches_it)  # fmt: skip
        try:
            connection, _ = silent.accept()  # the eval is now waiting on its first answer
            with connection:
                proc.send_signal(signal.SIGINT)
                _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()  # a failure above must not leave it running (or the test waiting)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "openrft: interrupted"


def test_eval_and_gate_with_every_answer_errored_are_no_score_and_exit_1(tmp_path: Path) -> None:
    from tests.support import scripted_model
    from tests.support.loopback import serve

    grader = tmp_path / "typo.json"  # reads a field no row has: every answer errors
    grader.write_text(json.dumps({**json.loads(Path(GRADER).read_text()),
                                  "reference": "{{ item.answer }}"}))  # fmt: skip
    valid = _valid(tmp_path)
    with serve(scripted_model.app()) as base:
        common = ("-d", valid, "-g", str(grader), "--base-url", f"{base}/v1")
        done = _run("eval", "-m", "sorter", *common, "--report", "eval", cwd=tmp_path)
        gated = _run("gate", "--candidate", "sorter", "--baseline", "reverser", *common,
                     "--report", "gate", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no score" in done.stdout
    assert done.stderr.strip().splitlines() == [
        "openrft: error: no score for sorter: all 3 answers errored (invalid_variable_error ×3)"
    ]
    assert gated.returncode == 1, gated.stdout + gated.stderr
    verdict = json.loads((tmp_path / "gate.json").read_text())
    assert verdict["verdict"] == "fail"
    assert [c["name"] for c in verdict["checks"]] == ["graded", "graded"]
    assert "sorter: no score: all 3 answers errored" in verdict["reasons"][0]
