"""The completion seam on the real tiny model: serving (`TorchBackend`) and eval sampling
(`LocalSampler`) answer through the one in-process engine (`LocalCompleter`), which training
rollouts use too; a request that cannot be served is its own error, never its batch's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.errors import InvalidRequestError
from openrft.evals.sampling import LocalSampler, SamplingParams
from openrft.models.completion import ChatPrompt, ChatRequest, RolloutSettings
from openrft.models.local import LocalCompleter, load_completer
from openrft.models.tiny import NAME, ensure_tiny
from openrft.serve.backend import TorchBackend
from openrft.server import Settings
from tests.server.conftest import live_server

USER = [{"role": "user", "content": "sort 93172:"}]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of the in-process engine's chat and rollout entry points, by name."""
    seen: list[str] = []
    for name in ("chat_completions", "rollouts"):
        real = getattr(LocalCompleter, name)

        def spy(self: LocalCompleter, *args: Any, _real: Any = real, _name: str = name) -> Any:
            seen.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(LocalCompleter, name, spy)
    return seen


def test_serving_and_eval_sampling_answer_through_the_one_engine(
    home: Path, calls: list[str]
) -> None:
    settings: dict[str, Any] = {"n": 3, "max_tokens": 8, "seed": 11}
    direct = load_completer(NAME, home=home).chat_completions([ChatRequest(USER, **settings)])
    backend = TorchBackend(home)
    loaded = backend.load(NAME)
    assert isinstance(loaded, LocalCompleter) and backend.context_length(loaded) == 256
    served = backend.complete(loaded, [backend.request(messages=USER, **settings)])
    sampler = LocalSampler(home)
    params = SamplingParams(n=3, max_tokens=8, seed=11)
    sampled = asyncio.run(sampler.sample(NAME, USER, None, params))
    assert calls == ["chat_completions"] * 3
    texts = [[c.text for c in answers] for answers in (*direct, *served)]  # type: ignore[union-attr]
    assert texts[0] == texts[1] == [a.text for a in sampled]  # seeded: the same three samples


def test_rollouts_render_the_template_and_keep_token_ids(home: Path, calls: list[str]) -> None:
    completer = load_completer(NAME, home=home)
    settings = RolloutSettings(max_new_tokens=8, temperature=1.0)
    first = completer.rollouts([ChatPrompt(USER)], 4, 3, settings)
    again = completer.rollouts([ChatPrompt(USER)], 4, 3, settings)
    assert calls == ["rollouts", "rollouts"]
    assert first.texts == again.texts and len(first.texts) == 4  # the seed decides
    assert first.completion_ids.shape[0] == 4 and first.completion_ids.shape[1] <= 8
    completer.sync_weights(completer.loaded.model)  # the trainer's module is its own: no copy
    assert completer.rollouts([ChatPrompt(USER)], 4, 3, settings).texts == first.texts


def test_a_request_that_cannot_be_served_fails_alone(home: Path) -> None:
    """A content part whose `text` is not a string passes the wire's checks (only `text`
    parts are checked), a prompt past the context needs the tokenizer to see: each is its own
    request's error or answer, and its neighbours are answered as if they came alone."""
    completer = load_completer(NAME, home=home)
    good = ChatRequest(USER, n=2, max_tokens=8, seed=5)
    odd_part = [{"role": "user", "content": [{"type": "image_url", "text": 5}, {"type": "text",
                 "text": "sort 93172:"}]}]  # fmt: skip
    too_long = [{"role": "user", "content": "9" * 300}]
    answers = completer.chat_completions([
        good, ChatRequest(odd_part, n=2, max_tokens=8, seed=5), ChatRequest(too_long), good,
    ])  # fmt: skip
    [alone] = completer.chat_completions([good])
    first, odd, refused, last = answers
    assert isinstance(refused, InvalidRequestError) and refused.code == "context_length_exceeded"
    assert first == last == alone == odd  # the odd part carries no text: the same prompt


def test_a_content_part_the_wire_lets_through_is_answered_not_a_500(
    home: Path, tmp_path: Path
) -> None:
    """Through the server and the SDK: a non-text part with a non-string `text` used to fail
    its model call with a TypeError (a 500); its text parts are the prompt, as for any part."""
    odd = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:,"}, "text": 5},
        {"type": "text", "text": "sort 93172:"},
    ]}]  # fmt: skip
    settings = Settings(home=tmp_path / "home", base_models={"tiny": str(ensure_tiny(home))})
    with (
        live_server(settings, backend=None) as server,
        OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as sdk,
    ):
        ask: dict[str, Any] = {"model": "tiny", "max_tokens": 8, "temperature": 0}
        plain = sdk.chat.completions.create(messages=USER, **ask)  # type: ignore[arg-type]
        answered = sdk.chat.completions.create(messages=odd, **ask)  # type: ignore[arg-type]
    assert answered.choices[0].message.content == plain.choices[0].message.content
