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
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from openrft.models import sort_task
from openrft.store.atomic import atomic_dir

log = logging.getLogger(__name__)

NAME = "openrft-tiny"
SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|end|>"]
# Tools go in a developer turn; the model calls one with <tool_call>{json}</tool_call>.
CHAT_TEMPLATE = (
    "{% if tools %}<|system|>tools: {{ tools | tojson }}<|end|>{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] or '' }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WARM_STEPS = 150
WARM_BATCH = 64
WARM_LR = 3e-3
_WARMUP = 20


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {s: i for i, s in enumerate(SPECIALS + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: one token per byte
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="<|pad|>",
        bos_token="<|bos|>",
        eos_token="<|eos|>",
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
    target = home / "models" / NAME
    if (target / "config.json").exists():
        return target
    log.info("building %s (one-time warm start)", NAME)
    try:
        with atomic_dir(target) as tmp:
            tokenizer = build_tokenizer()
            model = build_model(tokenizer)
            warm_start(model, tokenizer)
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


def _sft_batch(tokenizer: Any, rng: random.Random) -> dict[str, torch.Tensor]:
    """Right-padded prompt+answer+eos, with the loss on the answer and eos only."""
    ids, labels = [], []
    for prompt, answer in (_demonstration(rng) for _ in range(WARM_BATCH)):
        chat = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        p = tokenizer(head, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels]),
    }


def warm_start(model: LlamaForCausalLM, tokenizer: Any, seed: int = 0) -> None:
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=WARM_LR)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / _WARMUP))
    model.train()
    for _ in range(WARM_STEPS):
        loss = model(**_sft_batch(tokenizer, rng)).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
