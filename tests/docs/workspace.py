"""Where a page's blocks run: a fresh directory and OPENRFT_HOME, small data, a live server.

Each page gets its own directory. Before its first block it holds:

- the data files the pages read (see `fixtures`), cut from the demo task's rows;
- `openrft/` and `bench/` (links to this checkout, so README's `openrft/demo/grader.json` is
  there) and `.venv/bin/openrft`, `.venv/bin/python` (this interpreter), with `.venv/bin` first
  on PATH, so `openrft ...` and `.venv/bin/openrft ...` both run this checkout's CLI;
- `srv/models/<name>/` for the model directories server.md names (the tiny model's files);
- `home/`, the page's OPENRFT_HOME, with the session's warm-started openrft-tiny linked in;
- every block marked `<!-- docs-check: file=NAME -->`, written as NAME.

Commands run as written, with these substitutions only: `127.0.0.1:8000` becomes the docs'
server and `/srv/` the page's `srv/` (the docs' default port and deployment paths would
collide with other runs on one machine). A shell line that runs `openrft serve` is started
with `--host 127.0.0.1 --port <free>` appended (the last option wins) and an OPENRFT_HOME of
its own, checked on `/health`, and stopped. Python blocks of a page share one namespace and
run in this process, in the page's directory, with OPENAI_BASE_URL / OPENAI_API_KEY /
OPENRFT_JUDGE_BASE_URL pointing at the docs' `openrft serve`: one server, with a store of its
own, for all pages (started on first need, stopped after the last page).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openrft.demo.server import free_port
from tests.docs.blocks import ROOT, SHELL, Block
from tests.support.loopback import wait_healthy

BLOCK_TIMEOUT = 180
MODEL_DIRS = ("SmolLM2-135M-Instruct", "Qwen2.5-0.5B-Instruct")
_SERVE = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:\S*/)?openrft\s+serve\b")


def fixtures(directory: Path) -> None:
    """The small files the pages' commands read, from 40 rows of the demo task: `all.jsonl`,
    its split `train.jsonl` / `valid.jsonl` (32 / 8 rows, no prompt on both sides),
    `questions.jsonl` (eval items) and `rows.jsonl` (the demo's graded samples)."""
    from openrft.data.split import split_rows
    from openrft.demo.run import write_rows
    from openrft.demo.task import make_rows

    rows = make_rows(40, 1)
    train, valid = split_rows(rows, valid_fraction=0.2, seed=42)
    write_rows(directory / "all.jsonl", rows)
    write_rows(directory / "train.jsonl", train)
    write_rows(directory / "valid.jsonl", valid)
    questions = [{"item": {"question": r["messages"][-1]["content"], "answer": r["reference"]}}
                 for r in valid]  # fmt: skip
    write_rows(directory / "questions.jsonl", questions)
    shutil.copy(ROOT / "openrft/demo/graded_samples.jsonl", directory / "rows.jsonl")


def _shim(path: Path, command: str) -> None:
    path.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    path.chmod(0o755)


def _link_tiny(home: Path, tiny: Path) -> None:
    (home / "models").mkdir(parents=True)
    (home / "models" / "openrft-tiny").symlink_to(tiny)
    # The session's SmolLM2 import (tests/support/smollm2.py), beside openrft-tiny: the alias
    # then resolves as in a home that imported it once, without a second ~40 s import.
    smollm2 = tiny.parents[2] / "smollm2-home" / "models" / "smollm2-135m-instruct"
    if smollm2.is_dir():
        (home / "models" / smollm2.name).symlink_to(smollm2)


def _spawn(command: list[str] | str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A server in a process group of its own, its output in `cwd/server-N.log`."""
    log = (cwd / f"server-{len(list(cwd.glob('server-*')))}.log").open("wb")
    with log:
        return subprocess.Popen(
            command, shell=isinstance(command, str), cwd=cwd, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


class Server:
    """The `openrft serve` the pages' snippets talk to: one for all pages, started on first
    need, with a store of its own."""

    def __init__(self, directory: Path, tiny: Path):
        self.dir, self.port = directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        _link_tiny(directory / "home", tiny)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        if self.process is not None:
            return
        command = [sys.executable, "-m", "openrft.cli", "serve", "--port", str(self.port)]
        env = env | {"OPENRFT_HOME": str(self.dir / "home")}
        self.process = _spawn(command, self.dir, env)
        wait_healthy(self.port, self.process, bound=60)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


class Workspace:
    """One page's directory, environment and namespace."""

    def __init__(self, page: str, directory: Path, tiny: Path, server: Server, blocks: list[Block]):
        self.page, self.dir, self.server = page, directory, server
        self.home = directory / "home"
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}
        self.attempted: set[Block] = set()
        self._layout(tiny)
        fixtures(directory)
        for block in blocks:
            if name := block.mark("file"):
                (directory / name).write_text(block.text, encoding="utf-8")

    def _layout(self, tiny: Path) -> None:
        _link_tiny(self.home, tiny)
        for name in ("openrft", "bench"):
            (self.dir / name).symlink_to(ROOT / name)
        bin_dir = self.dir / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        _shim(bin_dir / "python", sys.executable)
        _shim(bin_dir / "openrft", f"{sys.executable} -m openrft.cli")
        (self.dir / "srv" / "models").mkdir(parents=True)
        for name in MODEL_DIRS:
            (self.dir / "srv" / "models" / name).symlink_to(tiny)

    def env(self) -> dict[str, str]:
        path = f"{self.dir / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return os.environ | {
            "PATH": path,
            "PYTHONPATH": python_path,
            "OPENRFT_HOME": str(self.home),
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "COLUMNS": "100",
            "NO_COLOR": "1",
            "OPENAI_BASE_URL": self.server.url + "/v1",
            "OPENAI_API_KEY": "unused",
            "OPENRFT_JUDGE_BASE_URL": self.server.url + "/v1",
        }

    def substitute(self, text: str) -> str:
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.server.port}")
        return text.replace("/srv/", f"{self.dir}/srv/")

    def close(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            self.namespace.clear()
            gc.collect()

    # --- running blocks ----------------------------------------------------------------

    def run(self, block: Block) -> str:
        """Run one block; raise AssertionError (with its output) when it does not do as
        documented. Returns what it printed."""
        if block.lang in SHELL:
            return self.run_shell(block)
        if block.lang == "python":
            return self.run_python(block)
        if block.lang == "json":
            return check_json(block, self.dir)
        raise AssertionError(f"{block.id}: a `{block.lang}` block is never run")

    def run_shell(self, block: Block) -> str:
        text = self.substitute(commands(block))
        lines = logical_lines(text)
        if any(_SERVE.match(line) for line in lines):
            return "\n".join(self._run_line(block, line) for line in lines)
        if "127.0.0.1:" in block.text:
            self.server.start(self.env())
        return self._bash(block, "set -e -o pipefail\n" + text)

    def _run_line(self, block: Block, line: str) -> str:
        if not _SERVE.match(line):
            return self._bash(block, line)
        port = free_port()
        env = self.env() | {"OPENRFT_HOME": str(self.dir / f"home-{port}")}  # a store of its own
        process = _spawn(f"{line} --host 127.0.0.1 --port {port}", self.dir, env)
        try:
            wait_healthy(port, process, bound=60)
        except AssertionError:
            _stop(process)
            log = max(self.dir.glob("server-*.log"), key=lambda p: p.stat().st_mtime).read_text()
            raise AssertionError(f"{block.id}: `{line}` did not start:\n{log[-3000:]}") from None
        _stop(process)
        return f"{line}: healthy"

    def _bash(self, block: Block, script: str) -> str:
        expected = int(block.mark("exit") or 0)
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.dir, env=self.env(), capture_output=True,
            text=True, timeout=BLOCK_TIMEOUT,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == expected, (
            f"{block.id}: exit {done.returncode}, documented {expected}\n{output[-4000:]}"
        )
        assert "Traceback (most recent call last)" not in output, f"{block.id}:\n{output[-4000:]}"
        return output

    def run_python(self, block: Block) -> str:
        self.server.start(self.env())
        code = compile(self.substitute(block.text), block.id, "exec")
        with _environment(self.env()), contextlib.chdir(self.dir), warnings.catch_warnings():
            # The SDK's own idiom, `file=open(...)`, leaves the file to the garbage collector.
            warnings.simplefilter("ignore", ResourceWarning)
            exec(code, self.namespace)
        return ""


def commands(block: Block) -> str:
    """The shell text of a block: a `console` block's `$ ` lines (the rest is output)."""
    if block.lang != "console":
        return block.text
    kept: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            kept.append(line[2:])
        elif kept and kept[-1].endswith("\\"):
            kept.append(line)
    return "".join(line + "\n" for line in kept)


def logical_lines(text: str) -> list[str]:
    """Shell lines with `\\` continuations joined and comments and blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    lines = [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def check_json(block: Block, directory: Path) -> str:
    """A JSON block must parse and be what it shows: a grader openrft accepts, a dataset row
    that passes the row rules, a job's `settings` (with `alarms` or `judge_check`), or a job
    file `openrft train` loads."""
    from openrft.data.validate import row_problem
    from openrft.graders import validate_grader

    data = json.loads(block.text)
    assert isinstance(data, dict), f"{block.id}: a JSON block is an object"
    if "training_file" in data:
        from openrft.cli.train import load_job

        assert block.mark("file"), f"{block.id}: a job file needs <!-- docs-check: file=... -->"
        load_job(directory / str(block.mark("file")))
        return "job file"
    if "messages" in data:
        assert row_problem(data) is None, f"{block.id}: {row_problem(data)}"
        return "dataset row"
    if {"alarms", "judge_check", "devices", "processes"} & set(data):  # a job's `settings`
        from openrft.train.spec import TrainSettings

        TrainSettings.model_validate(data)
        return "settings"
    assert "type" in data, f"{block.id}: neither a grader, a dataset row, settings nor a job file"
    validate_grader(data, for_training=data["type"] != "label_model")
    return "grader"


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a server and its job children), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
