"""An operator allow-lists hub ids (`OPENRFT_BASE_MODELS`); API users call them by name. The
model comes from the local Hugging Face cache (laid out here, offline); an allow-listed name
that no source has answers 400 naming the sources tried, and a path is still no model name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from openrft.jobs.models import parse_base_models
from openrft.server import Settings
from tests.models.gguf_file import chat_model
from tests.models.test_resolution import hub_cache
from tests.server.conftest import Live, live_server

HELLO = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Live, Path]]:
    model, tokenizer = chat_model()
    folder = tmp_path / "tiny-chat"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    hub_cache(tmp_path / "hf-cache", "someorg/tiny-chat", folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    allowed = parse_base_models(["someorg/tiny-chat", "someorg/not-there"])
    with live_server(Settings(home=tmp_path / "home", base_models=allowed), backend=None) as live:
        yield live, folder


def test_allow_listed_hub_ids_come_from_the_cache_or_say_what_was_tried(
    served: tuple[Live, Path],
) -> None:
    live, folder = served
    with OpenAI(base_url=live.base_url, api_key="unused", max_retries=0) as sdk:
        reply = sdk.chat.completions.create(
            model="someorg/tiny-chat",
            messages=HELLO,
            max_completion_tokens=4,
            seed=1,  # type: ignore[arg-type]
        )
        assert reply.model == "someorg/tiny-chat" and reply.usage is not None
        assert reply.usage.completion_tokens > 0
        with pytest.raises(openai.BadRequestError) as missing:
            sdk.chat.completions.create(model="someorg/not-there", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model=str(folder), messages=HELLO)  # type: ignore[arg-type]
    error = missing.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    assert "someorg/not-there" in error["message"] and "Hugging Face cache" in error["message"]
    assert "smollm2-135m-instruct" in error["message"]
    assert str(folder.parent) not in error["message"]  # no server paths in an API error
