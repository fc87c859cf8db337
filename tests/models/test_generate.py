import json
from pathlib import Path
from typing import Any

import pytest
import torch

from openrft.models import registry, sampling
from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.generate import ChatRequest, chat_completions
from openrft.models.registry import load_model
from openrft.models.tiny import NAME

USER = [{"role": "user", "content": "sort 93172:"}]
TOOL = {"type": "function", "function": {"name": "lookup_digits", "parameters": {"type": "object"}}}


def test_tiny_is_a_small_byte_level_llama(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    assert loaded.name == NAME and loaded.device == "cpu"
    assert len(loaded.tokenizer) == 262
    params = sum(p.numel() for p in loaded.model.parameters())
    assert 400_000 < params < 700_000
    assert loaded.tokenizer("é", add_special_tokens=False)["input_ids"].__len__() == 2  # two bytes


def test_warm_start_is_cached_and_knows_the_task(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    [completions] = chat_completions(loaded, [ChatRequest(USER, n=16, max_tokens=8, seed=0)])
    answers = {c.text for c in completions}
    assert answers <= {"12379", "97321"} | answers  # shape only; the real check is below
    good = sum(c.text in ("12379", "97321") for c in completions)
    assert good >= 8  # it sorts, half the time the wrong way (noisy demonstrations)
    assert all(c.prompt_tokens > 0 and 0 < c.completion_tokens <= 8 for c in completions)


def test_requests_keep_their_order_n_stop_and_lengths(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    requests = [
        ChatRequest(USER, n=2, max_tokens=8, temperature=0),
        ChatRequest(USER, n=1, max_tokens=2, seed=5),
        ChatRequest(USER, n=1, max_tokens=8, temperature=0, stop=["3"]),
    ]
    greedy, short, stopped = chat_completions(loaded, requests)
    assert len(greedy) == 2 and greedy[0].text == greedy[1].text
    assert short[0].finish_reason == "length" and short[0].completion_tokens == 2
    assert "3" not in stopped[0].text and stopped[0].finish_reason == "stop"


def test_tools_reach_the_template_and_tool_calls_are_parsed(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    prompt = render_prompt(loaded.tokenizer, USER, [TOOL])
    assert "lookup_digits" in prompt and prompt.endswith("<|assistant|>")
    text = 'ok <tool_call>{"name": "lookup_digits", "arguments": {"n": 3}}</tool_call>'
    rest, calls = parse_tool_calls(text)
    assert rest == "ok"
    assert calls[0]["type"] == "function" and calls[0]["function"]["name"] == "lookup_digits"
    assert json.loads(calls[0]["function"]["arguments"]) == {"n": 3}
    assert parse_tool_calls("<tool_call>not json</tool_call>") == (
        "<tool_call>not json</tool_call>",
        [],
    )


def test_cuda_rollouts_use_a_static_cache_and_cpu_does_not(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sampling.cache_options("cuda") == {"cache_implementation": "static"}
    assert sampling.cache_options("cuda:1") == {"cache_implementation": "static"}
    assert sampling.cache_options("cpu") == {}
    loaded = load_model(NAME, home=home)
    seen: dict[str, Any] = {}
    real = loaded.model.generate

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", spy)
    prompts = ["<|user|>sort 1:<|end|><|assistant|>", "<|user|>sort 93172:<|end|><|assistant|>"]
    greedy: dict[str, Any] = {"n": 2, "max_new_tokens": 6, "temperature": 0.0}
    dynamic = sampling.sample(loaded, prompts, **greedy)
    assert "cache_implementation" not in seen
    monkeypatch.setattr(sampling, "static_cache", lambda device: True)  # as on CUDA
    static = sampling.sample(loaded, prompts, **greedy)
    assert seen["cache_implementation"] == "static"
    # Prompts padded to a multiple of PAD_MULTIPLE (few compiled shapes), same completions.
    assert static.prompt_ids.shape[1] % sampling.PAD_MULTIPLE == 0
    assert static.prompt_ids.shape[1] > dynamic.prompt_ids.shape[1]
    assert static.texts == dynamic.texts and all(static.texts)


def test_cuda_serving_loads_bf16_so_the_static_cache_matches_the_weights() -> None:
    assert registry.weights_dtype("cuda", training=False) == torch.bfloat16
    assert registry.weights_dtype("cuda", training=True) == torch.float32
    assert registry.weights_dtype("cpu", training=False) == torch.float32


def test_unknown_local_paths_are_a_clear_error(home: Path) -> None:
    from openrft.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        load_model(str(home / "no-such-model"), home=home)


def test_a_seeded_request_says_the_same_alone_or_batched(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_model(NAME, home=home)
    calls: list[int] = []
    real = loaded.model.generate

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs["input_ids"].shape[0])
        return real(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", spy)
    other = [{"role": "user", "content": "sort 5:"}]
    seeded = ChatRequest(USER, n=3, max_tokens=10, seed=11)
    [alone] = chat_completions(loaded, [seeded])
    torch.manual_seed(12345)  # the global generator plays no part
    batch = [ChatRequest(other, n=3, max_tokens=10, seed=7), seeded,
             ChatRequest(USER, n=3, max_tokens=10, seed=12)]  # fmt: skip
    _, again, third = chat_completions(loaded, batch)
    assert [c.text for c in again] == [c.text for c in alone]
    assert calls == [3, 9]  # the three seeded requests shared one forward pass
    # Seeds still mean something: another seed, other samples; the n samples are not copies.
    assert [c.text for c in third] != [c.text for c in alone]
    many = chat_completions(loaded, [ChatRequest(USER, n=12, max_tokens=10, seed=3)])[0]
    assert len({c.text for c in many}) > 1


def test_seeded_draws_follow_the_distribution_and_top_p() -> None:
    probs = torch.tensor([[0.1, 0.2, 0.7]])
    logits = probs.log()
    counts = torch.zeros(3)
    draws = sampling.SeededDraws(1.0, 1.0, [torch.Generator().manual_seed(0)])
    for _ in range(4000):
        counts += (draws(torch.zeros(1, 1), logits) == 0).float()[0]
    assert torch.allclose(counts / 4000, probs[0], atol=0.03), counts
    narrow = sampling.SeededDraws(1.0, 0.5, [torch.Generator().manual_seed(1)])
    assert all(narrow(torch.zeros(1, 1), logits)[0].argmax() == 2 for _ in range(200))
    hot = sampling.SeededDraws(0.5, 1.0, [torch.Generator().manual_seed(2)])
    picked = sum(int(hot(torch.zeros(1, 1), logits)[0].argmax() == 2) for _ in range(2000))
    assert 0.85 < picked / 2000 < 0.95  # 0.7² / (0.01 + 0.04 + 0.49) = 0.907


def test_rows_that_share_a_seed_draw_independently(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One seed on every row (an eval's default) must not mean one draw for every row: with
    the model made to give every prompt the same distribution (uniform over the ten digits),
    the rows of one seeded batch are independent samples of it."""
    loaded = load_model(NAME, home=home)
    digits = loaded.tokenizer("0123456789", add_special_tokens=False)["input_ids"]
    real = loaded.model.forward

    def same_for_every_prompt(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        out.logits = torch.full_like(out.logits, float("-inf"))
        out.logits[..., digits] = 0.0
        return out

    monkeypatch.setattr(loaded.model, "forward", same_for_every_prompt)
    rows = [ChatRequest([{"role": "user", "content": f"sort {k}:"}], n=2, max_tokens=4, seed=42)
            for k in range(60)]  # fmt: skip
    texts = [c.text for completions in chat_completions(loaded, rows) for c in completions]
    assert len(set(texts)) > 100  # 10^4 equally likely texts; one stream per sample gives 2
    firsts = [text[0] for text in texts]
    counts = [firsts.count(d) for d in "0123456789"]
    assert all(2 <= c <= 30 for c in counts), counts  # 12 expected each; one stream puts 60 on one
    # Still reproducible: a row says the same alone as in its batch.
    [alone] = chat_completions(loaded, [rows[7]])
    assert [c.text for c in alone] == texts[14:16]


def test_a_cap_above_the_context_generates_within_it(home: Path, monkeypatch: Any) -> None:
    """A judge config written for a hosted model asks for 32768 tokens: the model generates
    within its context (a CUDA static cache is sized by the cap), reasoning_effort accepted."""
    loaded = load_model(NAME, home=home)
    seen: list[int] = []
    real = sampling.sample

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["max_new_tokens"])
        return real(*args, **kwargs)

    monkeypatch.setattr("openrft.models.generate.sample", spy)
    request = ChatRequest(USER, max_tokens=32768, temperature=0, reasoning_effort="medium")
    [[completion]] = chat_completions(loaded, [request])
    assert seen == [loaded.model.config.max_position_embeddings] and completion.text
