"""The agent demo's loopback tool and endpoint grader speak Azure's agentic RFT JSON."""

from __future__ import annotations

import random

import httpx

from openrft.demo.agent_servers import CALL_CREDIT, HEADER, agent_services
from openrft.models import lookup_task

ROW = lookup_task.make_row(random.Random(7))


def _call(key: str, trace: str = "trace_a") -> dict[str, object]:
    return {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup",
            "arguments": "{}", "item": {**ROW, "key": key}, "trace_id": trace}  # fmt: skip


def test_the_tool_answers_a_function_call_with_its_output() -> None:
    with agent_services("s3cret") as services:
        reply = httpx.post(services.tool_url, json=_call(ROW["key"]), headers=services.headers)
        unknown = httpx.post(services.tool_url, json=_call("zz"), headers=services.headers)
    assert reply.status_code == 200
    assert reply.json() == {"type": "function_call_output", "call_id": "call_1",
                            "output": ROW["reference_answer"], "id": "fc_1"}  # fmt: skip
    assert unknown.status_code == 200 and "no item has the key 'zz'" in unknown.json()["output"]
    assert services.ledger.keys == {"trace_a": {ROW["key"]}}


def test_the_tool_refuses_bad_calls_without_an_output() -> None:
    with agent_services("s3cret") as services:
        url, headers = services.tool_url, services.headers
        no_key = httpx.post(url, json=_call(ROW["key"]), headers={HEADER: "wrong"})
        not_a_call = httpx.post(url, json={"type": "message"}, headers=headers)
        no_item = httpx.post(url, json={**_call("x"), "item": None}, headers=headers)
        huge = httpx.post(url, content=b"x" * ((1 << 20) + 1), headers=headers)
    assert no_key.status_code == 401
    assert not_a_call.status_code == 400 and "output" not in not_a_call.json()
    assert no_item.status_code == 400 and "output" not in no_item.json()
    assert huge.status_code == 413


def test_the_grader_scores_the_answer_and_credits_asking_the_tool() -> None:
    right = {"output_text": ROW["reference_answer"], "output_tools": []}
    wrong = {"output_text": "00000", "output_tools": []}
    with agent_services("s3cret") as services:
        url, headers = services.grader_url, services.headers

        def grade(sample: dict[str, object], trace: str) -> object:
            body = {"sample": sample, "item": ROW, "trace_id": trace}
            return httpx.post(url, json=body, headers=headers).json()

        before = grade(wrong, "trace_b")
        httpx.post(services.tool_url, json=_call(ROW["key"], "trace_b"), headers=headers)
        scores = [grade(right, "trace_c"), grade(wrong, "trace_b"), before]
        refused = httpx.post(url, json={"sample": right, "item": ROW}, headers={})
    assert scores == [{"score": 1.0}, {"score": CALL_CREDIT}, {"score": 0.0}]
    assert refused.status_code == 401


def test_codes_are_a_table_no_model_can_know_and_keys_are_checked() -> None:
    rows = [lookup_task.make_row(random.Random(seed)) for seed in range(50)]
    assert all(row["reference_answer"] == lookup_task.code(row["key"]) for row in rows)
    assert len({row["reference_answer"] for row in rows}) > 40
    assert lookup_task.known(ROW["key"]) and not lookup_task.known(ROW["key"][::-1])
    assert not lookup_task.known("zz") and not lookup_task.known("AAB")
