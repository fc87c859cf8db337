"""The episode loop over a real tool server: turns, calls, errors, drops, the step cap, one
batched generate call per round, and a slow tool that does not hold the other episodes.

The model is openrft-tiny's architecture on the real sampling path, made to say scripted
turns (`scripted.ScriptedTiny`); the tool calls are real HTTP to loopback.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch

from openrft.agent import Episodes, Toolbox, ToolServer, run_episodes
from openrft.models.completion import RolloutSettings
from openrft.models.local import LocalCompleter
from tests.agent import tool_server
from tests.agent.scripted import ScriptedTiny, call, tiny_loaded
from tests.agent.tool_server import ToolServer as Server
from tests.agent.tool_server import wait_for

SCHEMAS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("lookup", "hold", "broken")
]
SETTINGS = RolloutSettings(max_new_tokens=160, temperature=1.0)


def row(task: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": task}], "tools": SCHEMAS, "task": task}


def tool_messages(context: str) -> list[str]:
    """The tool messages a context holds, in order (openrft-tiny's template)."""
    return re.findall(r"<\|tool\|>(.*?)<\|end\|>", context, re.DOTALL)


def task_of(context: str) -> str:
    return context.split("<|user|>", 1)[1].split("<|end|>", 1)[0]


def look_up_then_answer(context: str) -> str:
    """`find K…`: look each key up, one call a turn, then answer with what the tools said."""
    keys, seen = task_of(context).split()[1:], tool_messages(context)
    if len(seen) < len(keys):
        return call("lookup", key=keys[len(seen)])
    return "answer: " + " ".join(seen)


def toolbox(server: Server, **paths: str) -> Toolbox:
    paths = {"lookup": "/lookup", "hold": "/hold", "broken": "/status/500"} | paths
    return Toolbox([ToolServer(name, server.url + path) for name, path in paths.items()])


def run(
    model: ScriptedTiny, rows: list[dict[str, Any]], server: Server, n: int = 1, **kw: Any
) -> Episodes:
    with toolbox(server, **kw.pop("paths", {})) as box:
        return run_episodes(model, rows, n, 7, SETTINGS, box, **kw)


def test_an_episode_calls_tools_until_it_answers(server: Server) -> None:
    model = ScriptedTiny(look_up_then_answer)
    episodes = run(model, [row("find a b"), row("find c")], server, n=2)
    assert episodes.texts == ["answer: alpha bravo"] * 2 + ["answer: charlie"] * 2
    assert episodes.finish_reasons == ["stop"] * 4 and episodes.turns == [3, 3, 2, 2]
    assert episodes.tool_calls == [2, 2, 1, 1] and episodes.dropped == [False] * 4
    assert episodes.tool_errors == [0] * 4
    sample = episodes.samples[0]
    assert sample.output_text == "answer: alpha bravo"
    assert [json.loads(c["function"]["arguments"]) for c in sample.output_tools] == [
        {"key": "a"}, {"key": "b"}
    ]  # fmt: skip
    assert episodes.items[2] == row("find c")
    # Every call of an episode carries its trace id; episodes have their own.
    traces = {}
    for request in server.requests:
        traces.setdefault(request["body"]["trace_id"], []).append(request["body"]["item"]["task"])
    assert set(traces) == set(episodes.trace_ids) == {s.trace_id for s in episodes.samples}
    assert sorted(map(tuple, traces.values())) == [("find a b",) * 2] * 2 + [("find c",)] * 2
    metrics = episodes.tool_metrics()
    assert metrics["tool_calls_per_rollout"] == 1.5 and metrics["tool_errors"] == 0
    assert metrics["tool_tokens_per_call"] == pytest.approx(34 / 6)  # alpha, charlie: 5, 7 bytes
    assert 0 < metrics["tool_latency_mean"] <= metrics["tool_latency_p95"]


def test_one_generate_call_per_round_for_every_ready_episode(server: Server) -> None:
    model = ScriptedTiny(look_up_then_answer)
    run(model, [row("find a b"), row("find c d"), row("find d")], server, n=2)
    assert len(model.rounds[0]) == 6  # the first round: every episode, one batch
    assert sum(map(len, model.rounds)) == 2 * (3 + 3 + 2)


def test_tokens_are_what_the_model_was_prompted_with(server: Server) -> None:
    """The episode's prompt + completion is exactly what each turn was generated from: the
    mask-1 tokens are the sampled ids, the mask-0 tokens the template's tool messages."""
    model = ScriptedTiny(look_up_then_answer)
    episodes = run(model, [row("find a b")], server)
    rollouts = episodes.rollouts
    prompt = rollouts.prompt_ids[0][rollouts.prompt_mask[0].bool()].tolist()
    real = rollouts.attention()[0].bool()
    completion = rollouts.completion_ids[0][real].tolist()
    loss = rollouts.completion_mask[0][real].tolist()
    sampled = [turns[0].ids for turns in model.turned]
    for turn, (given, ids) in enumerate(zip((p[0] for p in model.prompts), sampled, strict=True)):
        start = len(given) - len(prompt)
        assert given == prompt + completion[:start], turn
        assert completion[start : start + len(ids)] == ids and loss[start : start + len(ids)] == [
            1
        ] * len(ids)
    assert completion[-len(sampled[-1]) :] == sampled[-1]  # the answer ends the sequence
    masked = [t for t, m in zip(completion, loss, strict=True) if m == 0]
    assert (
        model.tokenizer.decode(masked)
        == "<|tool|>alpha<|end|><|assistant|><|tool|>bravo<|end|><|assistant|>"
    )
    assert sum(loss) == sum(map(len, sampled)) == int(rollouts.completion_mask.sum())


def test_calls_in_one_turn_run_in_parallel(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool_server, "HOLD_BOUND_S", 10.0)

    def both(context: str) -> str:
        if tool_messages(context):
            return "answer: " + " ".join(tool_messages(context))
        return call("hold", key="a") + call("hold", key="b")

    model = ScriptedTiny(both)
    release = _release_when(server, lambda: server.active == 2)
    episodes = run(model, [row("two at once")], server)
    release.join(timeout=30)
    assert server.most_active == 2  # both calls were in the server at once
    assert episodes.texts == ["answer: alpha bravo"]  # tool messages in the order of the calls
    calls = episodes.samples[0].output_tools
    assert [m.get("tool_call_id") for m in episodes.messages[0][2:4]] == [c["id"] for c in calls]


def _release_when(server: Server, condition: Callable[[], bool]) -> threading.Thread:
    """Release the server's held requests once `condition` holds (or after a bound)."""

    def watch() -> None:
        wait_for(condition, bound=10)
        server.release.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_the_concurrency_cap_holds_across_episodes(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tool_server, "HOLD_BOUND_S", 10.0)
    model = ScriptedTiny(lambda c: "done" if tool_messages(c) else call("hold", key="a"))
    release = _release_when(server, lambda: server.active == 2)
    with Toolbox([ToolServer("hold", server.url + "/hold")], max_concurrency=2) as box:
        episodes = run_episodes(model, [row("one"), row("two")], 3, 0, SETTINGS, box)
    release.join(timeout=30)
    assert episodes.tool_calls == [1] * 6 and episodes.texts == ["done"] * 6
    assert server.most_active == 2


def test_a_4xx_and_an_unknown_tool_are_shown_to_the_model(server: Server) -> None:
    def odd(context: str) -> str:
        seen = tool_messages(context)
        if not seen:
            return call("lookup", key="zz")
        if len(seen) == 1:
            return call("search", q="x")
        return "gave up"

    model = ScriptedTiny(odd)
    episodes = run(model, [row("odd")], server)
    assert episodes.texts == ["gave up"] and not episodes.dropped[0]
    assert episodes.tool_errors == [2] and episodes.tool_calls == [2]
    first, second = tool_messages(model.rounds[-1][0])
    assert json.loads(first) == {"error": {"message": "no key 'zz'"}}  # the 404's own payload
    assert "'search'" in json.loads(second)["error"]["message"]
    assert server.count("/lookup") == 1


def test_an_oversize_answer_reaches_the_model_as_a_413(server: Server) -> None:
    model = ScriptedTiny(lambda c: "done" if tool_messages(c) else call("lookup", key="a"))
    episodes = run(model, [row("big")], server, paths={"lookup": "/big"})
    (shown,) = tool_messages(model.rounds[-1][0])
    assert json.loads(shown)["error"]["status"] == 413 and episodes.tool_errors == [1]


def test_a_failing_server_drops_only_its_episode(server: Server) -> None:
    def script(context: str) -> str:
        if "broken" in task_of(context):
            return call("broken", key="a")
        return look_up_then_answer(context)

    model = ScriptedTiny(script)
    episodes = run(model, [row("broken tool"), row("find a")], server)
    assert episodes.dropped == [True, False]
    assert episodes.texts[1] == "answer: alpha" and episodes.turns == [1, 2]
    assert server.count("/status/500") == 4  # one try and three retries
    assert episodes.tool_metrics()["dropped_rollouts"] == 1


def test_the_step_cap_ends_an_episode(server: Server) -> None:
    model = ScriptedTiny(lambda context: call("lookup", key="a"))
    episodes = run(model, [row("forever")], server, max_steps=3)
    assert episodes.turns == [3] and episodes.finish_reasons == ["tool_calls"]
    assert (
        episodes.tool_calls == [2] and server.count("/lookup") == 2
    )  # the 3rd turn's call is not run
    assert len(episodes.samples[0].output_tools) == 3  # but the grader sees it


def test_a_turn_out_of_tokens_ends_the_episode(server: Server) -> None:
    model = ScriptedTiny(lambda context: call("lookup", key="a") + " and more" * 40)
    episodes = run(model, [row("long")], server)
    assert episodes.finish_reasons == ["length"] and episodes.turns == [1]
    assert server.requests == []


def test_a_slow_tool_does_not_hold_the_other_episodes(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow episode's tool answers only once the fast episodes have finished all their
    turns: if the loop waited for it, they could not, and the hold would time out."""
    monkeypatch.setattr(tool_server, "HOLD_BOUND_S", 20.0)

    def script(context: str) -> str:
        if task_of(context) == "slow":
            return "slow done" if tool_messages(context) else call("hold", key="a")
        return look_up_then_answer(context)

    model = ScriptedTiny(script)
    done = "find a b c"

    last_turns: list[str] = []

    def on_round(contexts: list[str]) -> None:
        last_turns.extend(c for c in contexts if len(tool_messages(c)) == 3)
        if len(last_turns) == 2:
            server.release.set()  # both fast episodes are on their last turn

    model.on_round = on_round
    episodes = run(model, [row("slow"), row(done), row(done)], server)
    assert episodes.texts == [
        "slow done",
        "answer: alpha bravo charlie",
        "answer: alpha bravo charlie",
    ]
    order = [task_of(c) for round_ in model.rounds for c in round_]
    assert len(model.rounds[0]) == 3
    second_slow = order.index("slow", 1)
    assert order[:second_slow].count(done) == 8  # all four turns of each fast episode came first


def test_episodes_are_reproducible_from_the_seed(server: Server) -> None:
    """The real model, sampling freely (no scripted choice): same seed, same tokens."""
    loaded = tiny_loaded(seed=3)

    def episodes(seed: int) -> torch.Tensor:
        with toolbox(server) as box:
            settings = RolloutSettings(max_new_tokens=12, temperature=1.0)
            got = run_episodes(loaded, [row("x"), row("y")], 3, seed, settings, box)
        return got.rollouts.completion_ids

    first, again, other = episodes(11), episodes(11), episodes(12)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert len({tuple(r) for r in first.tolist()}) > 1  # the samples of a row differ
    with toolbox(server) as box:  # the trainer's in-process completer holds the same model
        settings = RolloutSettings(max_new_tokens=12, temperature=1.0)
        through = run_episodes(LocalCompleter(loaded), [row("x"), row("y")], 3, 11, settings, box)
    assert torch.equal(through.rollouts.completion_ids, first)


def test_a_trace_key_gives_a_redrawn_step_the_same_trace_and_call_ids(server: Server) -> None:
    """What a resumed job sends again carries the ids a tool saw the first time."""

    def sent(key: str | None) -> list[tuple[str, str, str]]:
        before = len(server.requests)
        run(ScriptedTiny(look_up_then_answer), [row("find a b"), row("find c")], server, n=2,
            trace_key=key)  # fmt: skip
        return sorted(
            (r["body"]["trace_id"], r["body"]["call_id"], r["body"]["arguments"])
            for r in server.requests[before:]
        )

    first, again = sent("ftjob-a:11"), sent("ftjob-a:11")
    assert first == again and len({t for t, _, _ in first}) == 4  # one trace per episode
    assert not {t for t, _, _ in sent("ftjob-a:12")} & {t for t, _, _ in first}
    assert not {t for t, _, _ in sent("ftjob-b:11")} & {t for t, _, _ in first}
    assert {t for t, _, _ in sent(None)}.isdisjoint({t for t, _, _ in sent(None)})


def test_a_model_out_of_process_cannot_run_episodes(server: Server) -> None:
    with toolbox(server) as box, pytest.raises(TypeError, match="in-process model"):
        run_episodes(object(), [row("x")], 1, 0, SETTINGS, box)
