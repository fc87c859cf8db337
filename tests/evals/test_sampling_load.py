"""Sampling measures a request to a loaded model: in-process, the model loads once however many
rows ask for it at once; over HTTP, a server that loads on first use does so before timing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from openrft.cli.main import app
from openrft.evals.compare import evaluate
from openrft.evals.sampling import EndpointSampler, LocalSampler, SamplingParams
from openrft.graders import validate_grader
from tests.support.loopback import serve
from tests.train.helpers import demo_grader, tiny_home

LOAD_SECONDS = 1.0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_home(tmp_path_factory)


def _rows(count: int) -> list[dict[str, Any]]:
    from openrft.demo.task import make_rows

    return make_rows(count, 3)


def _files(folder: Path, count: int) -> tuple[Path, Path]:
    data = folder / "valid.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in _rows(count)))
    grader = folder / "grader.json"
    grader.write_text(json.dumps(demo_grader()))
    return data, grader


def test_eval_gate_and_readiness_run_in_process_on_many_rows(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRFT_HOME", str(home))
    data, grader = _files(tmp_path, 6)
    common = ["-d", str(data), "-g", str(grader)]
    runner = CliRunner()
    done = runner.invoke(
        app, ["eval", "-m", "openrft-tiny", *common, "--report", str(tmp_path / "e")]
    )
    assert done.exit_code == 0, done.output
    evaluated = json.loads((tmp_path / "e.json").read_text())["models"][0]
    assert evaluated["overall"]["rows"] == 6
    gated = runner.invoke(
        app,
        ["gate", "--candidate", "openrft-tiny", "--baseline", "openrft-tiny", *common,
         "--min-gain", "-1", "--slice-tolerance", "1", "--report", str(tmp_path / "g")],
    )  # fmt: skip
    assert gated.exit_code == 0, gated.output
    assert json.loads((tmp_path / "g.json").read_text())["verdict"] == "pass"
    ready = runner.invoke(
        app,
        ["readiness", "--data", str(data), "--valid", str(data), "-g", str(grader),
         "-m", "openrft-tiny", "--samples", "2", "--report", str(tmp_path / "r")],
    )  # fmt: skip
    assert ready.exit_code in (0, 1), ready.output
    assert json.loads((tmp_path / "r.json").read_text())["decision"] in ("go", "no-go")


async def test_a_local_model_loads_once_and_its_load_is_not_latency(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openrft.models import local

    loads: list[float] = []
    real = local.load_model

    def slow_load(name: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        time.sleep(LOAD_SECONDS)  # a big model's load, in the worker thread
        loaded = real(name, **kwargs)
        loads.append(time.perf_counter() - started)
        return loaded

    monkeypatch.setattr(local, "load_model", slow_load)  # what the in-process engine loads with
    sampler = LocalSampler(home)
    grader = validate_grader(demo_grader())
    result = await evaluate("openrft-tiny", _rows(4), grader, sampler, SamplingParams(n=2))
    await sampler.aclose()
    assert len(loads) == 1 and result.overall.rows == 4
    assert result.latency_p95_s < loads[0]


def _lazy_server() -> FastAPI:
    """Answers "cold" to the request that loaded the model, "warm" to the rest."""
    api = FastAPI()
    state = {"loaded": False, "lock": asyncio.Lock()}

    @api.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        async with state["lock"]:  # type: ignore[attr-defined]
            text = "warm" if state["loaded"] else "cold"
            if not state["loaded"]:
                await asyncio.sleep(LOAD_SECONDS)
                state["loaded"] = True
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": text},
        }
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        return {"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [choice], "usage": usage}  # fmt: skip

    return api


@pytest.fixture
def lazy_endpoint() -> Iterator[str]:
    with serve(_lazy_server()) as base:
        yield f"{base}/v1"


async def test_an_endpoint_is_warmed_before_latency_is_measured(lazy_endpoint: str) -> None:
    sampler = EndpointSampler(lazy_endpoint)
    messages = [{"role": "user", "content": "sort 21:"}]
    try:
        answers = await asyncio.gather(
            *(sampler.sample("lazy", messages, None, SamplingParams()) for _ in range(4))
        )
    finally:
        await sampler.aclose()
    flat = [answer for row in answers for answer in row]
    assert [answer.text for answer in flat] == ["warm"] * 4
    assert max(answer.latency for answer in flat) < LOAD_SECONDS
