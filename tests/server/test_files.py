"""Files (spec §7), auth (H2), errors (H1) and `x-request-id`, through the official SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from openrft.cli.serve import is_loopback
from openrft.errors import InvalidRequestError
from openrft.server.config import parse_keys
from tests.server.conftest import Live

ROW = b'{"messages": [{"role": "user", "content": "hi"}], "answer": "ih"}\n'


def client(live: Live, key: str = "key-a") -> OpenAI:
    return OpenAI(
        base_url=live.base_url, api_key=key, max_retries=0, _strict_response_validation=True
    )


def test_upload_retrieve_content_delete(live: Live) -> None:
    with client(live) as sdk:
        created = sdk.files.create(file=("train.jsonl", ROW * 2), purpose="fine-tune")
        assert created.object == "file" and created.id.startswith("file-")
        assert (created.bytes, created.filename, created.purpose) == (
            len(ROW) * 2,
            "train.jsonl",
            "fine-tune",
        )
        assert created.status == "processed"
        assert sdk.files.retrieve(created.id) == created
        assert sdk.files.content(created.id).read() == ROW * 2
        assert sdk.files.wait_for_processing(created.id).status == "processed"
        deleted = sdk.files.delete(created.id)
        assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "file")
        with pytest.raises(openai.NotFoundError):
            sdk.files.retrieve(created.id)


def test_list_pages_with_cursor_and_ids(live: Live) -> None:
    with client(live, "key-b") as sdk:
        ids = [
            sdk.files.create(file=(f"f{i}.jsonl", ROW), purpose="fine-tune").id for i in range(5)
        ]
        page = sdk.files.list(limit=2, purpose="fine-tune")
        assert [item.id for item in page.data] == ids[::-1][:2]
        assert page.has_more is True
        raw = sdk.files.with_raw_response.list(limit=2).http_response.json()
        assert raw["first_id"] == ids[-1] and raw["last_id"] == ids[-2]
        assert [item.id for item in page] == ids[::-1]
        ascending = sdk.files.list(order="asc", limit=10)
        assert [item.id for item in ascending.data] == ids and ascending.has_more is False
        assert sdk.files.list(purpose="batch").data == []


def test_projects_are_isolated(live: Live) -> None:
    with client(live, "key-a") as alpha, client(live, "key-b") as beta:
        mine = alpha.files.create(file=("a.jsonl", ROW), purpose="fine-tune")
        with pytest.raises(openai.NotFoundError) as caught:
            beta.files.retrieve(mine.id)
        assert caught.value.body == {"message": f"No such File object: {mine.id}",
                                     "type": "invalid_request_error", "param": "file_id", "code": None}  # fmt: skip
        for call in (beta.files.content, beta.files.delete):
            with pytest.raises(openai.NotFoundError):
                call(mine.id)
        assert mine.id not in [item.id for item in beta.files.list().data]


def test_auth_errors(live: Live) -> None:
    with client(live, "wrong") as sdk, pytest.raises(openai.AuthenticationError) as caught:
        sdk.files.list()
    assert caught.value.code == "invalid_api_key"
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    response = httpx.get(live.base_url + "/files")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_api_key"


def test_error_bodies_never_detail(live: Live) -> None:
    headers = {"authorization": "Bearer key-a"}
    unknown = httpx.get(live.base_url + "/nothing/here", headers=headers)
    assert unknown.status_code == 404 and set(unknown.json()) == {"error"}
    assert unknown.json()["error"]["message"] == "Invalid URL (GET /v1/nothing/here)"
    assert unknown.headers["x-request-id"].startswith("req_")
    bad = httpx.post(
        live.base_url + "/fine_tuning/alpha/graders/validate", headers=headers, json={}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "grader" and bad.headers["x-request-id"]
    json_headers = {**headers, "content-type": "application/json"}
    not_json = httpx.post(live.base_url + "/fine_tuning/jobs", headers=json_headers, content=b"{")
    assert not_json.status_code == 400 and not_json.json()["error"]["param"] is None
    assert "not valid JSON" in not_json.json()["error"]["message"]
    limit = httpx.get(live.base_url + "/files", params={"limit": 0}, headers=headers)
    assert limit.status_code == 400 and limit.json()["error"]["param"] == "limit"


def test_upload_limits_and_purpose(live: Live) -> None:
    with client(live) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.files.create(file=("big.jsonl", b"x" * 200 * 1024), purpose="fine-tune")
        assert caught.value.status_code == 413
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.files.create(file=("a.jsonl", ROW), purpose="nonsense")  # type: ignore[arg-type]
        assert bad.value.param == "purpose"
        hostile = sdk.files.create(file=("../../etc/passwd", ROW), purpose="fine-tune")
        assert hostile.filename == "passwd"


def test_health(live: Live) -> None:
    body = httpx.get(live.url + "/health").json()
    assert body["status"] == "ok" and body["auth"] is True and body["worker"] == "running"
    assert isinstance(body["sandbox"], str)


async def test_async_client(live: Live) -> None:
    async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                           _strict_response_validation=True) as sdk:  # fmt: skip
        created = await sdk.files.create(file=("x.jsonl", ROW), purpose="fine-tune")
        assert (await sdk.files.retrieve(created.id)).id == created.id
        page = await sdk.files.list(limit=1)
        assert len(page.data) == 1
        assert (await sdk.files.delete(created.id)).deleted is True


def test_unexpected_error_is_a_bare_500(live: Live) -> None:
    with client(live) as sdk, pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(
            model="openrft-tiny", messages=[{"role": "user", "content": "__crash__"}]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "server_error"
    assert body["message"].endswith(f"Request id: {caught.value.request_id}")
    assert "secret" not in caught.value.response.text


def test_keys_and_loopback_rules(tmp_path: Path) -> None:
    assert parse_keys(["k1:alpha", "", "# comment", "a:b:c:team-2"]) == {
        "k1": "alpha",
        "a:b:c": "team-2",
    }
    with pytest.raises(InvalidRequestError):
        parse_keys(["no-project"])
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENRFT_API_KEYS")}
    refused = subprocess.run([sys.executable, "-m", "openrft.cli", "serve", "--host", "0.0.0.0",
                              "--home", str(tmp_path)], env=env, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "without API keys" in refused.stderr
