"""Training on episodes: the GRPO loss counts only the tokens the model sampled. Tool messages
and the template's headers are context (attended to) with no loss, and the bookkeeping holds
for chat templates that end a turn with their own token and re-render earlier turns."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from openrft.agent import Episodes, Toolbox, ToolServer, run_episodes
from openrft.train import grpo
from tests.agent.scripted import ScriptedTiny, call, tiny_loaded
from tests.agent.test_episodes import SETTINGS, look_up_then_answer, row, tool_messages
from tests.agent.tool_server import ToolServer as Server


def episodes_for(
    model: ScriptedTiny, server: Server, rows: list[dict[str, Any]], n: int
) -> Episodes:
    with Toolbox([ToolServer("lookup", server.url + "/lookup")]) as box:
        return run_episodes(model, rows, n, 5, SETTINGS, box)


def gradients(model: torch.nn.Module) -> list[torch.Tensor]:
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return grads


def by_hand(
    model: torch.nn.Module,
    episodes: Episodes,
    advantages: torch.Tensor,
    *,
    every_token: bool = False,
) -> float:
    """The loss written out episode by episode, each one unpadded in its own forward pass:
    -Σ advantage × log π(token) over the model's own tokens / their count."""
    r = episodes.rollouts
    losses, total = [], r.completion_mask.sum()
    for i in range(len(episodes.texts)):
        prompt = r.prompt_ids[i][r.prompt_mask[i].bool()]
        real = r.attention()[i].bool()
        completion, mask = r.completion_ids[i][real], r.completion_mask[i][real].float()
        if every_token:
            mask = torch.ones_like(mask)
        ids = torch.cat([prompt, completion])[None]
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, completion[:, None]).squeeze(-1)
        losses.append(-advantages[i] * (logp * mask).sum())
    loss = torch.stack(losses).sum() / total
    loss.backward()
    return float(loss.detach())


def test_the_gradient_ignores_tool_tokens(server: Server) -> None:
    model = ScriptedTiny(look_up_then_answer, loaded=tiny_loaded(seed=1))
    episodes = episodes_for(model, server, [row("find a b"), row("find c")], n=2)
    r = episodes.rollouts
    tool_positions = r.attention().bool() & ~r.completion_mask.bool()
    assert int(tool_positions.sum()) > 0 and len(set(r.attention().sum(dim=1).tolist())) > 1
    net = model.loaded.model
    advantages = torch.tensor([1.0, -0.5, 2.0, -1.5])
    expected_loss = by_hand(net, episodes, advantages)
    expected = gradients(net)
    for micro in (1, 4):
        loss = grpo.accumulate_gradient(net, r, advantages, micro)
        got = gradients(net)
        assert loss == pytest.approx(expected_loss, rel=1e-5)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # The same loss with the tool tokens counted is another gradient: the mask is what
    # keeps them out, and the comparison above would see them.
    by_hand(net, episodes, advantages, every_token=True)
    counted = gradients(net)
    assert any(
        not torch.allclose(a, b, rtol=1e-3, atol=1e-6)
        for a, b in zip(counted, expected, strict=True)
    )


CHATML_LIKE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
RE_RENDERS = (  # like Qwen3: the last assistant turn renders differently from earlier ones
    "{% for m in messages %}<|{{ m['role'] }}|>"
    "{% if m['role'] == 'assistant' and loop.last %}<think></think>{% endif %}"
    "{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.mark.parametrize("template", [CHATML_LIKE, RE_RENDERS])
def test_a_template_with_its_own_end_of_turn_token(server: Server, template: str) -> None:
    """The model ends a turn with `<|end|>` and the template writes a newline after it: the
    newline is the tool message's first masked token, and a template that re-renders the
    assistant turn does not repeat it."""
    loaded = tiny_loaded()
    loaded.tokenizer.chat_template = template
    end = loaded.tokenizer.convert_tokens_to_ids("<|end|>")
    loaded.model.generation_config.eos_token_id = [end]

    def script(context: str) -> str:
        seen = tool_messages(context)
        return f"it is {seen[0]}" if seen else call("lookup", key="a")

    model = ScriptedTiny(script, loaded=loaded, stop=end)
    episodes = episodes_for(model, server, [row("find a")], n=1)
    r = episodes.rollouts
    decode = loaded.tokenizer.decode
    masked = r.completion_ids[0][r.attention()[0].bool() & ~r.completion_mask[0].bool()]
    assert decode(masked) == "\n<|tool|>alpha<|end|>\n<|assistant|>"
    assert decode(r.completion_ids[0][r.attention()[0].bool()]) == (
        call("lookup", key="a") + "<|end|>\n<|tool|>alpha<|end|>\n<|assistant|>it is alpha<|end|>"
    )
    assert episodes.texts == ["it is alpha"]


def test_ids_in_sampling_matches_text_sampling() -> None:
    """`sample_turns` on the tokenized prompt draws what `sample` draws from its text."""
    from openrft.models.sampling import sample, sample_turns

    loaded = tiny_loaded(seed=2)
    texts = ["<|user|>sort 93172:<|end|><|assistant|>", "<|user|>hi<|end|><|assistant|>"]
    greedy = sample(loaded, texts, n=1, max_new_tokens=10, temperature=0.0)
    ids = [loaded.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    turns = sample_turns(loaded, ids, max_new_tokens=10, temperature=0.0)
    for row_, turn in enumerate(turns):
        expected = greedy.completion_ids[row_][greedy.completion_mask[row_].bool()].tolist()
        assert turn.ids == expected and turn.text == greedy.texts[row_]
        assert turn.finished == (greedy.finish_reasons[row_] == "stop")
