"""Batched sampling with token ids kept: the rollout path of training and of serving.

On CUDA, rollouts use a static KV cache (`cache_implementation="static"`): the default dynamic
cache re-allocates every step and is the slow path. Weights used with it must share one dtype
with the cache; we never sample under autocast, so bf16 (serving) and fp32 (training) weights
each get a cache of their own dtype. CPU keeps the dynamic cache (static buys nothing there).
transformers compiles the forward for a static cache on CUDA, once per shape, so prompts are
padded to a multiple of `PAD_MULTIPLE` tokens there.

`sample_turns` is the ids-in entry for multi-turn episodes (`openrft.agent`): each row's prompt
is token ids the caller kept from earlier turns, never re-tokenized text, and each row's turn
comes back as the ids exactly as sampled.

A model split across a trainer's processes (FSDP2: each layer's parameters gathered for its
forward) samples in lockstep (`Lockstep`, set on the loaded model while the ranks sample): every
rank runs the same forwards in the same order, whatever its rows. It keeps the dynamic cache.

Seeds: `seed` seeds the whole batch (a training step's rollouts); `seeds`, one per prompt, give
each prompt's samples their own generators (`SeededDraws`), so a seeded chat request says the
same thing alone or batched with others, and seeded requests still share one forward pass.
A generator is keyed by the seed, the sample number and the prompt text: rows that share a seed
(an eval's one seed on every row) still draw independently of each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from openrft.models.constrain import constraint_for
from openrft.models.registry import LoadedModel
from openrft.models.thinking import ThinkingBudget, answer_text, opens, split, thinking_tags


@dataclass
class Rollouts:
    """`n` completions per prompt, grouped: row r belongs to prompt r // n."""

    prompt_ids: torch.Tensor  # [R, P], left-padded
    prompt_mask: torch.Tensor  # [R, P]
    completion_ids: torch.Tensor  # [R, C], padded after eos
    completion_mask: torch.Tensor  # [R, C], 1 up to and including the first end-of-turn token
    texts: list[str]
    """The answers: no thinking section, no special tokens."""
    finish_reasons: list[str]  # "stop" (an end-of-turn token) or "length"
    reasoning_tokens: list[int] = field(default_factory=list)
    """Per row, the completion tokens spent in a thinking section (tags included)."""
    completion_attention: torch.Tensor | None = None
    """[R, C]: the completion tokens the model attends to, where they are more than the ones
    that carry the loss (`completion_mask`): an agentic episode's tool messages are context,
    never trained on. None: `completion_mask`."""

    def attention(self) -> torch.Tensor:
        """[R, C]: the completion positions that are real tokens (the attention mask)."""
        if self.completion_attention is None:
            return self.completion_mask
        return self.completion_attention


PAD_MULTIPLE = 64
"""With a static cache, prompts are left-padded to a multiple of this: generate() compiles the
forward once per cache shape, and a handful of widths keeps recompiles rare."""


def static_cache(device: str) -> bool:
    return device.startswith("cuda")


def cache_options(device: str) -> dict[str, Any]:
    """generate() kwargs for the KV cache: static on CUDA, the default elsewhere."""
    return {"cache_implementation": "static"} if static_cache(device) else {}


class Lockstep:
    """Generate calls paired across the ranks that share a sharded model (FSDP2 gathers each
    layer's parameters from every rank in its forward, so every rank must run the same forwards
    in the same order). Within a call, transformers' `generate(synced_gpus=True)` keeps a rank
    whose rows are done running forwards until every rank's are. Across calls, before each one
    every rank says whether it has one (an all-reduce); a rank out of calls says so in `drain`,
    and runs a one-token call of its own alongside each call another rank still makes, until
    none has any. So ranks may make different numbers of calls (unequal validation shares, a
    tool job's turns)."""

    def __init__(self, device: str):
        self.device = device

    def generate(self, model: Any, **kwargs: Any) -> Any:
        self._others_calling(True)
        return model.generate(**kwargs, synced_gpus=True)

    def drain(self, model: Any, pad_id: int) -> None:
        """Pair every call the other ranks still make with a discarded one-token call."""
        while self._others_calling(False):
            ids = torch.full((1, 1), pad_id, dtype=torch.long, device=self.device)
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=1,
                do_sample=False,
                pad_token_id=pad_id,
                synced_gpus=True,
            )

    def _others_calling(self, calling: bool) -> bool:
        flag = torch.tensor([1.0 if calling else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


@contextmanager
def lockstep(loaded: LoadedModel) -> Iterator[None]:
    """Sample `loaded` (a model sharded across the process group) in lockstep with the other
    ranks: every rank enters, makes its own calls, and leaves once no rank has any left. A rank
    that raises leaves at once (the others fail at their next collective's timeout)."""
    step = loaded.lockstep = Lockstep(loaded.device)
    try:
        yield
        step.drain(loaded.model, _pad_id(loaded.tokenizer, stop_ids(loaded)))
    finally:
        loaded.lockstep = None


def _generate(loaded: LoadedModel, **kwargs: Any) -> Any:
    if loaded.lockstep is None:
        return loaded.model.generate(**kwargs)
    return loaded.lockstep.generate(loaded.model, **kwargs)


def _cache_options(loaded: LoadedModel) -> dict[str, Any]:
    """Lockstep keeps the dynamic cache: a static one compiles the forward, FSDP's hooks in it."""
    return {} if loaded.lockstep is not None else cache_options(loaded.device)


def sample(
    loaded: LoadedModel,
    prompts: list[str],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    schema: dict[str, Any] | None = None,
    seed: int | None = None,
    seeds: list[int] | None = None,
    streamer: Any | None = None,
    stopping: StoppingCriteria | None = None,
    processors: list[Any] | None = None,
    think_limit: int | None = None,
) -> Rollouts:
    """`n` completions per prompt; `streamer` (generate()'s `put`/`end` protocol) hears each
    decoding step's new tokens, one per generated row. `seeds` (one per prompt) draw each
    prompt's samples from generators of their own instead of the global one. `stopping` ends
    rows early (a row it stops is padded, like one that ended). `processors` (logits
    processors) run after the schema constraint and before the seeded draws. A row stops at
    any of the model's end-of-turn tokens (`stop_ids`); a thinking model's rows think for at
    most `think_limit` tokens, and their texts are the answers after the thinking section."""
    tokenizer = loaded.tokenizer
    stops, tags = stop_ids(loaded), thinking_tags(tokenizer)
    opened = [opens(tags, prompt) for prompt in prompts]
    greedy = temperature <= 0  # n greedy samples are one sample n times
    draws = None
    if seeds is not None and not greedy:
        draws = SeededDraws(temperature, top_p, row_generators(seeds, prompts, n))
        prompts = [prompt for prompt in prompts for _ in range(n)]
    multiple = PAD_MULTIPLE if static_cache(loaded.device) else None
    enc = tokenizer(
        prompts,
        return_tensors="pt",
        padding=True,
        pad_to_multiple_of=multiple,
        add_special_tokens=False,
    )
    enc = {k: v.to(loaded.device) for k, v in enc.items()}
    if seed is not None:
        torch.manual_seed(seed)
    # With per-prompt draws, generate() runs greedy over scores that leave one token: the drawn one.
    options = _sampling_options(0.0 if draws else temperature, top_p)
    options |= _cache_options(loaded)
    extra, processors = processors or [], []
    if schema is not None:
        processors.append(constraint_for(tokenizer, schema, max_new_tokens))
    processors += extra
    if tags is not None and think_limit is not None:
        processors.append(ThinkingBudget(tags, think_limit, opened))
    if draws is not None:
        processors.append(draws)  # after the constraint: draws only among allowed tokens
    if processors:
        options["logits_processor"] = LogitsProcessorList(processors)
    if stopping is not None:
        options["stopping_criteria"] = StoppingCriteriaList([stopping])
    one_each = greedy or draws is not None  # one generated row per prompt row
    with torch.no_grad():
        out = _generate(
            loaded,
            **enc,
            max_new_tokens=max_new_tokens,
            num_return_sequences=1 if one_each else n,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=stops or None,
            streamer=streamer,
            **options,
        )
    if greedy:
        out = out.repeat_interleave(n, dim=0)
    width = enc["input_ids"].shape[1]
    completion = out[:, width:]
    mask, finished = _upto_eos(completion, stops)
    rows_per_prompt = completion.shape[0] // max(1, len(opened))
    answers = [
        split(tags, ids, opened[row // rows_per_prompt])
        for row, ids in enumerate(_before_stop(completion, mask, finished))
    ]
    texts = tokenizer.batch_decode([ids for ids, _ in answers], skip_special_tokens=True)
    repeat = 1 if draws is not None else n  # the prompts were repeated before generating
    return Rollouts(
        prompt_ids=enc["input_ids"].repeat_interleave(repeat, dim=0),
        prompt_mask=enc["attention_mask"].repeat_interleave(repeat, dim=0),
        completion_ids=completion,
        completion_mask=mask,
        texts=[answer_text(tags, text) for text in texts],
        finish_reasons=["stop" if f else "length" for f in finished.tolist()],
        reasoning_tokens=[reasoning for _, reasoning in answers],
    )


@dataclass
class Turn:
    """One row's turn from `sample_turns`."""

    ids: list[int]
    """The tokens as sampled, up to and including the end-of-turn token when there is one."""
    text: str
    """The answer: no thinking section, no special tokens."""
    finished: bool
    """It ended with an end-of-turn token; False: the token budget ran out."""
    reasoning_tokens: int = 0


def sample_turns(
    loaded: LoadedModel,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generators: list[torch.Generator] | None = None,
    think_limit: int | None = None,
    processors: list[Any] | None = None,
) -> list[Turn]:
    """One turn per prompt, the prompts given as token ids (left-padded here, one generate
    call for the batch). `generators`, one per prompt, draw each row from its own stream, so
    a row's turn does not depend on the rows batched with it; without them the global
    generator draws. `processors` run before the thinking bound and the draws."""
    tokenizer = loaded.tokenizer
    stops, tags = stop_ids(loaded), thinking_tags(tokenizer)
    opened = [opens(tags, tokenizer.decode(ids[-8:])) if tags else False for ids in prompts]
    enc = _left_pad(prompts, _pad_id(tokenizer, stops), loaded.device)
    greedy = temperature <= 0
    draws = None if greedy or generators is None else SeededDraws(temperature, top_p, generators)
    options = _sampling_options(0.0 if draws else temperature, top_p)
    options |= _cache_options(loaded)
    chain = list(processors or [])
    if tags is not None and think_limit is not None:
        chain.append(ThinkingBudget(tags, think_limit, opened))
    if draws is not None:
        chain.append(draws)
    if chain:
        options["logits_processor"] = LogitsProcessorList(chain)
    with torch.no_grad():
        out = _generate(
            loaded,
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=_pad_id(tokenizer, stops),
            eos_token_id=stops or None,
            **options,
        )
    completion = out[:, enc["input_ids"].shape[1] :]
    mask, finished = _upto_eos(completion, stops)
    return [
        _turn(tokenizer, tags, ids[:length], done, was_open)
        for ids, length, done, was_open in zip(
            completion.tolist(), mask.sum(dim=1).tolist(), finished.tolist(), opened, strict=True
        )
    ]


def _turn(tokenizer: Any, tags: Any, ids: list[int], finished: bool, opened: bool) -> Turn:
    answer, reasoning = split(tags, ids[:-1] if finished else ids, opened)
    text = answer_text(tags, tokenizer.decode(answer, skip_special_tokens=True))
    return Turn(ids, text, finished, reasoning)


def _pad_id(tokenizer: Any, stops: list[int]) -> int:
    pad = tokenizer.pad_token_id
    return int(pad) if pad is not None else stops[0]


def _left_pad(prompts: list[list[int]], pad: int, device: str) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask, left-padded (to a multiple of PAD_MULTIPLE with a static
    cache, as `sample` pads)."""
    width = max([1, *map(len, prompts)])
    if static_cache(device):
        width = -(-width // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = [[pad] * (width - len(p)) + p for p in prompts]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def stop_ids(loaded: LoadedModel) -> list[int]:
    """Every token that ends a turn: the tokenizer's eos and each `eos_token_id` the model's
    generation config lists (chat models often list several: `<|im_end|>`, `<|endoftext|>`)."""
    found = [loaded.tokenizer.eos_token_id]
    for config in (getattr(loaded.model, "generation_config", None), loaded.model.config):
        given = getattr(config, "eos_token_id", None)
        found += given if isinstance(given, list) else [given]
    return list(dict.fromkeys(int(t) for t in found if isinstance(t, int)))


def _before_stop(
    completion: torch.Tensor, mask: torch.Tensor, finished: torch.Tensor
) -> list[list[int]]:
    """Each row's generated tokens before its end-of-turn token."""
    lengths = (mask.sum(dim=1) - finished.long()).tolist()
    return [ids[:length] for ids, length in zip(completion.tolist(), lengths, strict=True)]


class SeededDraws:
    """A logits processor that samples each row from its own generator (temperature, then
    top-p, as generate() would) and leaves only the drawn token, for a greedy generate() to
    pick. A row's draw depends on its logits and its generator only, not on the batch."""

    def __init__(self, temperature: float, top_p: float, generators: list[torch.Generator]):
        self.temperature, self.top_p, self.generators = temperature, top_p, generators

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = _nucleus(logits, self.top_p)
        cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
        uniform = torch.stack([torch.rand((), generator=g) for g in self.generators])
        # side="right": the first token whose cumulative mass passes the draw has mass > 0.
        point = uniform.to(cdf.device)[:, None] * cdf[:, -1:]
        tokens = torch.searchsorted(cdf, point, right=True).clamp_(max=cdf.shape[-1] - 1)
        only = torch.full_like(scores, float("-inf"))
        return only.scatter_(1, tokens, 0.0)


def _nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The smallest set of most likely tokens whose mass reaches `top_p` (at least one)."""
    ordered, order = torch.sort(logits, descending=False)
    mass = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = mass <= 1 - top_p
    drop[:, -1] = False
    return logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))


def row_generators(seeds: list[int], prompts: list[str], n: int) -> list[torch.Generator]:
    """One generator per generated row: prompt r's `n` samples, prompt by prompt."""
    keys = zip(seeds, prompts, strict=True)
    return [_generator(seed, j, prompt) for seed, prompt in keys for j in range(n)]


def _generator(seed: int, sample: int, prompt: str) -> torch.Generator:
    """Sample `sample` of `prompt` seeded `seed`: a stream of its own, the same whatever else is
    in the batch. The prompt is part of the key, or every row given one seed would draw the
    same numbers. The CPU generator keeps only 32 bits of a seed, so the key is hashed to 32."""
    return key_generator(f"{seed}:{sample}:{prompt}")


def key_generator(key: str) -> torch.Generator:
    """A generator seeded by a string key (hashed to the 32 bits a CPU generator keeps)."""
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest))


def _sampling_options(temperature: float, top_p: float) -> dict[str, Any]:
    if temperature <= 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}


def _upto_eos(completion: torch.Tensor, stops: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask [R, C] covering each row up to and including its first end-of-turn token; which
    rows had one."""
    is_eos = torch.isin(completion, torch.tensor(stops, device=completion.device))
    finished = is_eos.any(dim=1)
    first = torch.where(finished, is_eos.int().argmax(dim=1), completion.shape[1] - 1)
    positions = torch.arange(completion.shape[1], device=completion.device)
    return (positions[None, :] <= first[:, None]).long(), finished
