"""`openrft-tiny`: the embedded default model, built in code and warm-started once.

A byte-level tokenizer (256 byte symbols plus chat specials, so any UTF-8 text works) and a
2-layer Llama (~0.5M parameters). The warm start is supervised training on the demo task's
*noisy* demonstrations: half of them sort descending, so the model can already produce the
right answer but picks it about half the time, and RL with the grader only has to select it
(spec/cpu-feasibility.md, experiment 2b). The result is cached under
`OPENRFT_HOME/models/openrft-tiny/`, written to a temp dir and renamed (`openrft.store.atomic`),
so it is built once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from openrft import threads
from openrft.models import lookup_task, sort_task
from openrft.models.chat import render_prompt
from openrft.store.atomic import atomic_dir

log = logging.getLogger(__name__)

NAME = "openrft-tiny"
SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|end|>"]
# Tools go in a system turn, one `name(arguments)` each (a byte-level model has no room for
# whole schemas); the model calls one with <tool_call>{json}</tool_call>, and an assistant turn
# renders its calls the same way, so a re-rendered episode is the text the model wrote.
CHAT_TEMPLATE = (
    "{% if tools %}<|system|>tools:{% for t in tools %}{% set f = t.get('function') or t %}"
    " {{ f.get('name') }}({{ ((f.get('parameters') or {}).get('properties') or {}) | join(',') }})"
    "{% endfor %}<|end|>{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] or '' }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>"
    "{{ {'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson }}"
    "</tool_call>{% endfor %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WARM_STEPS = 150
WARM_BATCH = 64
WARM_LR = 3e-3
_WARMUP = 20
AGENT_NAME = "openrft-tiny-agent"
AGENT_EOS = "<|end|>"
AGENT_STEPS = 400
AGENT_BATCH = 48
AGENT_P_CALL, AGENT_P_RIGHT = 0.6, 0.5
"""The agent's noise: 60% of the demonstrations call the tool, and half of those answer the
code reversed; the rest guess a code. Sampled, it answers right about 30% of the time."""
AGENT_WHOLE = 0.3
"""The share of calling demonstrations kept whole (the rest: the answer turn only)."""


def build_tokenizer(eos: str = "<|eos|>") -> PreTrainedTokenizerFast:
    vocab = {s: i for i, s in enumerate(SPECIALS + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: one token per byte
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<|pad|>",
        bos_token="<|bos|>",
        eos_token=eos,
        additional_special_tokens=SPECIALS[3:],
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


def ensure_tiny(home: Path) -> Path:
    """The cached warm-started model dir, building it first if needed."""
    return _ensure(home / "models" / NAME, build_tokenizer, warm_start)


def ensure_tiny_agent(home: Path) -> Path:
    """The cached `openrft-tiny-agent` dir (tool-calling episodes), built first if needed."""
    return _ensure(home / "models" / AGENT_NAME, lambda: build_tokenizer(AGENT_EOS), warm_agent)


def _ensure(target: Path, tokenizer_for: Callable[[], Any], warm: Callable[..., None]) -> Path:
    if (target / "config.json").exists():
        return target
    log.info("building %s (one-time warm start)", target.name)
    try:
        with atomic_dir(target) as tmp:
            tokenizer = tokenizer_for()
            model = build_model(tokenizer)
            threads.fit(model)  # one thread: its ops are too small to share (openrft/threads.py)
            warm(model, tokenizer)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    except OSError:  # another process may have won the race: keep theirs
        if not (target / "config.json").exists():
            raise
    return target


def _demonstration(rng: random.Random) -> tuple[str, str]:
    row = sort_task.make_row(rng)
    answer = row["reference"]
    if rng.random() < 0.5:  # the noise: half of the demonstrations sort the wrong way
        answer = answer[::-1]
    return row["messages"][0]["content"], answer


def _sft_batch(tokenizer: Any, rng: random.Random) -> list[dict[str, torch.Tensor]]:
    """Right-padded prompt+answer+eos, with the loss on the answer and eos only: one group
    (the rows are alike in length)."""
    ids, labels = [], []
    for prompt, answer in (_demonstration(rng) for _ in range(WARM_BATCH)):
        chat = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    return [_padded(tokenizer, ids, labels)]


def _episode_batch(tokenizer: Any, rng: random.Random) -> list[dict[str, Any]]:
    """Noisy episodes rendered by the chat template, with the loss on what the model writes
    (each assistant turn and its `<|end|>`), never on the prompt or a tool's answer. Most rows
    are only an episode's last two messages (the tool's answer, the model's): the copy is the
    hard part and a short row teaches it at a third of the cost; RoPE is relative, so what is
    learnt there holds inside a whole episode."""
    ids, labels = [], []
    for _ in range(AGENT_BATCH):
        episode = lookup_task.demonstration(rng, AGENT_P_CALL, AGENT_P_RIGHT)
        if len(episode) > 2 and rng.random() >= AGENT_WHOLE:
            episode = episode[-2:]
        row_ids, row_labels = _episode_ids(tokenizer, episode)
        ids.append(row_ids)
        labels.append(row_labels)
    return _buckets(tokenizer, ids, labels)


def _episode_ids(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[list[int], list[int]]:
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        head = render_prompt(tokenizer, messages[:i], [lookup_task.TOOL])
        turn = render_prompt(
            tokenizer, messages[: i + 1], [lookup_task.TOOL], generation_prompt=False
        )
        given = tokenizer(head[len(done) :], add_special_tokens=False)["input_ids"]
        written = tokenizer(turn[len(head) :], add_special_tokens=False)["input_ids"]
        ids += given + written
        labels += [-100] * len(given) + written
        done = turn
    return ids, labels


def _buckets(tokenizer: Any, ids: list[list[int]], labels: list[list[int]]) -> list[dict[str, Any]]:
    """The rows padded in groups of like length (a group's longest row at most `_ALIKE` times
    its shortest): a short row padded to a whole episode's length would cost as much as one.
    Right padding never changes what a row's own tokens see, so the groups' losses, weighted
    by their label tokens, add up to the whole batch's loss."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(ids[i]) <= _ALIKE * len(ids[groups[-1][0]]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return [_padded(tokenizer, [ids[i] for i in g], [labels[i] for i in g]) for g in groups]


_ALIKE = 1.5


def _padded(tokenizer: Any, ids: list[list[int]], labels: list[list[int]]) -> dict[str, Any]:
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
    }


def warm_start(model: LlamaForCausalLM, tokenizer: Any, seed: int = 0) -> None:
    _supervise(model, tokenizer, _sft_batch, WARM_STEPS, seed)


def warm_agent(model: LlamaForCausalLM, tokenizer: Any, seed: int = 0) -> None:
    """The agent warm start; a turn ends with `<|end|>`, the template's own end of turn, so
    the tokens the model writes are the tokens a re-rendered episode holds."""
    _supervise(model, tokenizer, _episode_batch, AGENT_STEPS, seed)


def accumulate(model: LlamaForCausalLM, parts: list[dict[str, Any]]) -> None:
    """Add the gradient of the mean loss over all of `parts`' label tokens (each part's own
    loss is its mean: weighted by its share of the tokens, they add up to the whole's)."""
    counts = [int((part["labels"][:, 1:] != -100).sum()) for part in parts]
    for part, count in zip(parts, counts, strict=True):
        (model(**part).loss * (count / sum(counts))).backward()


def _supervise(
    model: LlamaForCausalLM,
    tokenizer: Any,
    batch: Callable[[Any, random.Random], list[dict[str, Any]]],
    steps: int,
    seed: int,
) -> None:
    """`steps` of supervised training on `batch`'s groups of padded rows."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=WARM_LR)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / _WARMUP))
    model.train()
    for _ in range(steps):
        accumulate(model, batch(tokenizer, rng))
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
