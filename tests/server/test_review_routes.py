"""The review routes on a live server through the official SDK: a project's reviews are its own,
verdicts are recorded and counted, bad bodies are 400s; and `openrft gate` / `openrft review`
keeping their reviews on that server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.server.conftest import Live
from tests.support import scripted_model
from tests.support.loopback import serve


def _sdk(live: Live, key: str | None) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key=key or "none", max_retries=0)


def _body(**extra: Any) -> dict[str, Any]:
    def item(tag: str, n: int) -> dict[str, Any]:
        return {"slice": tag, "item": {"messages": [{"role": "user", "content": f"q{n}"}]},
                "candidate": {"output_text": f"good {n}", "reward": 1.0},
                "baseline": {"output_text": f"meh {n}", "reward": 0.5}}  # fmt: skip

    items = [item("edge", 1), item("edge", 2), item("refusal", 3)]
    return {"candidate": "ft:cand", "baseline": "base", "grader": "exact", "items": items,
            **extra}  # fmt: skip


def test_a_review_is_created_read_and_decided(live: Live) -> None:
    alpha = _sdk(live, "key-a")
    review: Any = alpha.post("/reviews", body=_body(), cast_to=object)
    assert review["object"] == "review" and review["id"].startswith("review_")
    assert review["counts"] == {"total": 3, "pending": 3, "approved": 0, "rejected": 0}
    assert review["per_slice"]["edge"]["total"] == 2
    items: Any = alpha.get(f"/reviews/{review['id']}/items", cast_to=object)
    assert [i["slice"] for i in items["data"]] == ["edge", "edge", "refusal"]
    first = items["data"][0]
    assert first["candidate"] == {"output_text": "good 1", "reward": 1.0}
    assert first["baseline"]["output_text"] == "meh 1" and first["status"] == "pending"
    with pytest.raises(openai.BadRequestError) as refused:
        alpha.post(f"/review_items/{first['id']}/reject", body={}, cast_to=object)
    assert refused.value.body["param"] == "note"  # type: ignore[index]
    decided: Any = alpha.post(f"/review_items/{first['id']}/reject", body={"note": "wrong"},
                              cast_to=object)  # fmt: skip
    assert (decided["status"], decided["note"]) == ("rejected", "wrong")
    assert decided["decided_at"] > 0
    alpha.post(f"/review_items/{items['data'][1]['id']}/approve", cast_to=object)
    again: Any = alpha.get(f"/reviews/{review['id']}", cast_to=object)
    assert again["counts"] == {"total": 3, "pending": 1, "approved": 1, "rejected": 1}
    pending: Any = alpha.get(f"/reviews/{review['id']}/items", cast_to=object,
                             options={"params": {"status": "pending"}})  # fmt: skip
    assert [i["slice"] for i in pending["data"]] == ["refusal"]
    listed: Any = alpha.get(
        "/reviews", cast_to=object, options={"params": {"candidate": "ft:cand"}}
    )
    assert review["id"] in [r["id"] for r in listed["data"]]


def test_another_project_cannot_see_or_decide(live: Live) -> None:
    alpha, beta = _sdk(live, "key-a"), _sdk(live, "key-b")
    review: Any = alpha.post("/reviews", body=_body(candidate="ft:private"), cast_to=object)
    item = alpha.get(f"/reviews/{review['id']}/items", cast_to=object)["data"][0]  # type: ignore[index]
    attempts = [
        lambda: beta.get(f"/reviews/{review['id']}", cast_to=object),
        lambda: beta.get(f"/reviews/{review['id']}/items", cast_to=object),
        lambda: beta.get(f"/review_items/{item['id']}", cast_to=object),
        lambda: beta.post(f"/review_items/{item['id']}/approve", cast_to=object),
        lambda: beta.post(f"/review_items/{item['id']}/reject", body={"note": "x"},
                          cast_to=object),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError) as missing:
            attempt()
        assert "review" in missing.value.message
    listed: Any = beta.get(
        "/reviews", cast_to=object, options={"params": {"candidate": "ft:private"}}
    )
    assert listed["data"] == []
    with pytest.raises(openai.AuthenticationError):
        _sdk(live, None).get("/reviews", cast_to=object)
    still: Any = alpha.get(f"/review_items/{item['id']}", cast_to=object)
    assert still["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_body(items=[]), "items"),
        (_body(extra=1), "extra"),
        (_body(candidate=""), "candidate"),
        ({**_body(), "items": [{"candidate": {"output_text": "a"}}]}, "baseline"),
        ({**_body(), "items": [{"candidate": {"output_text": "a", "reward": "x"},
                                "baseline": {"output_text": "b"}}]}, "reward"),
    ],
)  # fmt: skip
def test_bad_bodies_are_400s_naming_the_field(live: Live, body: Any, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _sdk(live, "key-a").post("/reviews", body=body, cast_to=object)
    assert param in str(refused.value.body["param"])  # type: ignore[index]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "OPENRFT_HOME": str(cwd / "unused-home")}
    command = [sys.executable, "-m", "openrft.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_gate_and_review_cli_keep_reviews_on_the_server(live: Live, tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": f"sort {d}:"}],
             "reference": "".join(sorted(d))} for d in ("321", "9172")]  # fmt: skip
    (tmp_path / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    grader = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
              "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip
    (tmp_path / "grader.json").write_text(json.dumps(grader))
    server = ["--base-url", live.base_url]
    with serve(scripted_model.app()) as model:
        gate = ["gate", "--candidate", "sorter", "--baseline", "reverser", "-d", "valid.jsonl",
                "-g", "grader.json", "--base-url", f"{model}/v1", "--review-url", live.base_url,
                "--api-key", "key-a", "--require-review", "2"]  # fmt: skip
        assert _cli(*gate, cwd=tmp_path).returncode == 1
        listed = _cli("review", "list", "--json", "--candidate", "sorter", *server,
                      "--api-key", "key-a", cwd=tmp_path)  # fmt: skip
        (review,) = json.loads(listed.stdout)
        items = json.loads(_cli("review", "list", review["id"], "--json", *server, "--api-key",
                                "key-a", cwd=tmp_path).stdout)  # fmt: skip
        assert len(items) == 2
        stranger = _cli("review", "approve", items[0]["id"], *server, "--api-key", "key-b",
                        cwd=tmp_path)  # fmt: skip
        assert stranger.returncode == 2 and "answered 404" in stranger.stderr
        for item in items:
            done = _cli("review", "approve", item["id"], *server, "--api-key", "key-a",
                        cwd=tmp_path)  # fmt: skip
            assert done.returncode == 0, done.stderr
        passed = _cli(*gate, cwd=tmp_path)
        assert passed.returncode == 0, passed.stdout + passed.stderr
    assert not (tmp_path / "unused-home").exists()  # nothing was kept locally


def test_a_review_from_two_eval_runs(live: Live) -> None:
    """A job's validation runs, or any two runs of one eval: both answers per picked row."""
    from tests.server.test_evals_api import CONFIG, EXACT, inline, wait_run

    alpha = _sdk(live, "key-a")
    evaluation = alpha.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
    tags = [["edge"], ["edge"], ["refusal"], []]

    def run(name: str, right: bool) -> str:
        rows = [{"item": {"answer": f"a{i}", "tags": tag, "question": f"q{i}"},
                 "sample": {"output_text": f"a{i}" if right else "no"}}
                for i, tag in enumerate(tags)]  # fmt: skip
        made = alpha.evals.runs.create(evaluation.id, name=name, data_source=inline(rows))
        return str(wait_run(alpha, evaluation.id, made.id).id)

    body = {"eval_id": evaluation.id, "candidate_run_id": run("cand", True),
            "baseline_run_id": run("base", False), "per_slice": 1}  # fmt: skip
    review: Any = alpha.post("/reviews/from_eval_runs", body=body, cast_to=object)
    assert (review["candidate"], review["baseline"], review["grader"]) == ("cand", "base", "exact")
    assert review["counts"]["total"] == 3 and set(review["per_slice"]) == {"edge", "refusal",
                                                                           "untagged"}  # fmt: skip
    items: Any = alpha.get(f"/reviews/{review['id']}/items", cast_to=object)
    for item in items["data"]:
        answer = item["item"]["answer"]
        assert item["candidate"] == {"output_text": answer, "reward": 1.0}
        assert item["baseline"] == {"output_text": "no", "reward": 0.0}
    with pytest.raises(openai.NotFoundError):
        _sdk(live, "key-b").post("/reviews/from_eval_runs", body=body, cast_to=object)
    with pytest.raises(openai.NotFoundError):
        alpha.post("/reviews/from_eval_runs", body={**body, "baseline_run_id": "evalrun_x"},
                   cast_to=object)  # fmt: skip
