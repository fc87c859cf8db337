"""`openrft demo --agent`: the five-step loop for an agent, through the official `openai` SDK.

The task needs a tool: every item has a code no model can know, and `lookup(key)` returns it
(`openrft.models.lookup_task`). The base model, `openrft-tiny-agent`, is warm-started on noisy
whole episodes: it calls the tool some of the time and answers the code it got some of that.

1. warm-start the base model, start the tool and the endpoint grader on loopback
   (`agent_servers`) and `openrft serve` beside them
2. upload the train / validation files (rows carry `messages`, `tools`, `reference_answer`)
3. create the job: `method.reinforcement.tools` says where `lookup` is served, the grader is
   an `endpoint` grader, `max_episode_steps` caps each episode
4. follow it: validation reward before and after
5. call the fine-tuned model with `chat.completions.create(..., tools=...)`, running the tool
   calls it returns on the client side, as any SDK user would
Every number printed is measured in this run.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI

from openrft.demo.agent_servers import CALL_CREDIT, AgentServices, agent_services
from openrft.demo.run import TERMINAL, write_rows
from openrft.demo.server import local_server
from openrft.errors import OpenRFTError
from openrft.models import lookup_task

MODEL = "openrft-tiny-agent"
MAX_EPISODE_STEPS = 3
MAX_TOKENS = 72
"""A turn's budget: the longest, a `lookup` call, is 62 tokens and its end of turn."""


@dataclass
class AgentSettings:
    home: Path
    train_rows: int = 240
    valid_rows: int = 64
    n_epochs: int = 1
    batch_size: int = 8
    eval_interval: int = 10
    seed: int = 42
    chat_rows: int = 8
    """Validation rows the SDK's tool loop runs on, base model and fine-tuned."""


@dataclass
class AgentResult:
    job: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)
    """Per step: train reward, and valid reward on the steps that validate."""
    valid_before: float | None = None
    """The job's step-0 validation mean reward."""
    valid_after: float | None = None
    loops: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per model (base, fine-tuned): the SDK tool loop on each chat row."""
    tool_calls: int = 0
    """Calls the demo's tool server answered (training, validation and the SDK loop)."""
    seconds: float = 0.0

    def right(self, which: str) -> int:
        return sum(loop["right"] for loop in self.loops.get(which, []))


def split(train: int, valid: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and validation rows, no item in both."""
    rng, seen = random.Random(seed), set[str]()
    rows: list[dict[str, Any]] = []
    while len(rows) < train + valid:
        row = lookup_task.make_row(rng)
        if row["key"] not in seen:
            seen.add(row["key"])
            rows.append(row)
    return rows[:train], rows[train:]


def fresh_home(home: Path) -> None:
    """An empty home but for its `models/`: the warm-started base model is built once."""
    home.mkdir(parents=True, exist_ok=True)
    for path in home.iterdir():
        if path.name != "models":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def base_model(home: Path) -> Path:
    """The warm-started base model's directory (built once per home; torch loads here)."""
    from openrft.models.tiny import ensure_tiny_agent

    return ensure_tiny_agent(home)


def run_agent_demo(settings: AgentSettings, say: Any) -> AgentResult:
    """Run the loop; `say(kind, payload)` receives progress for display."""
    start = time.perf_counter()
    fresh_home(settings.home)
    say("step", f"{MODEL}: warm-started on noisy episodes (call, tool answer, answer), "
        "once per home")  # fmt: skip
    folder = base_model(settings.home)
    train, valid = split(settings.train_rows, settings.valid_rows, settings.seed)
    result = AgentResult()
    say("step", "starting the lookup tool, the endpoint grader and openrft serve on loopback")
    with (
        agent_services(secrets.token_hex(16)) as services,
        local_server(settings.home, base_models=(f"{MODEL}={folder}",)) as base_url,
        OpenAI(base_url=base_url, api_key="demo") as client,
    ):
        job_id = _start(client, services, settings, train, valid, say)
        _follow(client, job_id, result, say)
        if result.job.get("status") != "succeeded":
            raise OpenRFTError(
                f"the job ended {result.job.get('status')}: {result.job.get('error')}"
            )
        tuned = str(result.job["fine_tuned_model"])
        say("step", f"the SDK's tool loop, greedy, on {settings.chat_rows} validation rows")
        for which, model in (("base", MODEL), ("fine-tuned", tuned)):
            loops = [tool_loop(client, model, row, services) for row in valid[: settings.chat_rows]]
            result.loops[which] = loops
        result.tool_calls = services.ledger.calls
    result.seconds = time.perf_counter() - start
    return result


def endpoint_grader(services: AgentServices) -> dict[str, Any]:
    return {"type": "endpoint", "name": "lookup_code", "url": services.grader_url,
            "headers": services.headers, "pass_threshold": 1.0}  # fmt: skip


def _start(client: OpenAI, services: AgentServices, settings: AgentSettings,
           train: list[Any], valid: list[Any], say: Any) -> str:  # fmt: skip
    data = settings.home / "data"
    data.mkdir()
    say("step", f"uploading {len(train)} training and {len(valid)} validation rows")
    with write_rows(data / "train.jsonl", train).open("rb") as handle:
        train_file = client.files.create(file=handle, purpose="fine-tune")
    with write_rows(data / "valid.jsonl", valid).open("rb") as handle:
        valid_file = client.files.create(file=handle, purpose="fine-tune")
    hyper = {"batch_size": settings.batch_size, "n_epochs": settings.n_epochs,
             "eval_interval": settings.eval_interval, "eval_samples": 1}  # fmt: skip
    tools = [{"name": "lookup", "server_url": services.tool_url, "headers": services.headers}]
    method: Any = {"type": "reinforcement", "reinforcement": {
        "grader": endpoint_grader(services), "tools": tools,
        "max_episode_steps": MAX_EPISODE_STEPS, "hyperparameters": hyper}}  # fmt: skip
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=train_file.id,
        validation_file=valid_file.id,
        method=method,
        seed=settings.seed,
        suffix="agent",
        extra_body={"settings": {"max_completion_tokens": MAX_TOKENS}},
    )
    say("job", job.id)
    say("step", f"reward: 1 for the item's code, {CALL_CREDIT} for calling the tool and "
        "answering wrong, else 0; train: a step's episodes, valid: one episode per "
        f"validation row (T=1), at most {MAX_EPISODE_STEPS} model turns each")  # fmt: skip
    return job.id


def _follow(client: OpenAI, job_id: str, result: AgentResult, say: Any) -> None:
    seen: set[str] = set()
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        for event in reversed(events):
            if event.id not in seen:
                seen.add(event.id)
                _event(event, result, say)
        if job.status in TERMINAL:
            result.job = job.model_dump(warnings=False)  # the SDK does not type `endpoint`
            return
        time.sleep(0.5)


def _event(event: Any, result: AgentResult, say: Any) -> None:
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == "metrics" and "step" in data:
        tools: dict[str, Any] = data["tools"] if isinstance(data.get("tools"), dict) else {}
        point = {"step": data["step"], "total": data.get("total_steps"),
                 "train": data.get("train_mean_reward"),
                 "valid": data.get("full_valid_mean_reward"),
                 "calls": tools.get("train_tool_calls_per_rollout_mean")}  # fmt: skip
        result.curve.append(point)
        if isinstance(point["valid"], int | float):
            result.valid_after = float(point["valid"])
        say("metrics", point)
        return
    baseline = data.get("valid_reward_mean")
    if event.message.startswith("Baseline validation") and isinstance(baseline, int | float):
        result.valid_before = float(baseline)
    say("event", event.message)


def tool_loop(
    client: OpenAI, model: str, row: dict[str, Any], services: AgentServices
) -> dict[str, Any]:
    """One episode driven by the SDK: ask the model, run the tool calls it returns against the
    tool server, send back the tool messages, until it answers or the step cap."""
    messages: list[dict[str, Any]] = list(row["messages"])
    trace = f"trace_{uuid.uuid4()}"
    calls: list[str] = []
    for _ in range(MAX_EPISODE_STEPS):
        reply = client.chat.completions.create(
            model=model, messages=messages, tools=row["tools"],  # type: ignore[arg-type]
            temperature=0.0, max_completion_tokens=MAX_TOKENS,
        )  # fmt: skip
        message = reply.choices[0].message
        if not message.tool_calls:
            answer = message.content or ""
            return {"key": row["key"], "calls": calls, "answer": answer,
                    "right": answer.strip() == row["reference_answer"]}  # fmt: skip
        messages.append(message.model_dump(include={"role", "content", "tool_calls"}))
        for call in message.tool_calls:
            function = call.function  # type: ignore[union-attr]
            calls.append(f"{function.name}({function.arguments})")
            output = run_tool(services, row, trace, call.id, function.name, function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    return {"key": row["key"], "calls": calls, "answer": None, "right": False}


def run_tool(services: AgentServices, row: dict[str, Any], trace: str, call_id: str,
             name: str, arguments: str) -> str:  # fmt: skip
    """POST a call to the tool server as the service does; its `output`, or a 4xx's body."""
    body = {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": name,
            "arguments": arguments, "item": row, "trace_id": trace}  # fmt: skip
    reply = httpx.post(services.tool_url, json=body, headers=services.headers, timeout=30)
    payload = reply.json()
    return str(payload["output"]) if "output" in payload else json.dumps(payload)
