"""Seconds per GRPO step on a GPU: openrft's job vs a bare TRL `GRPOTrainer` with its defaults.

    .venv/bin/python bench/train_gpu.py [--steps 5] [--shape qwen2-0.5b] [--device cuda]
    .venv/bin/python bench/train_gpu.py --shape small --device cpu     # check it on a CPU

Issue 6, item 9: Qwen2-0.5B's shape (24 layers, hidden 896, 14 heads, 2 KV heads, MLP 4864,
151,936-token vocabulary, tied embeddings) with random weights, 16 prompts x 8 samples x 256
completion tokens per step. Both sides load the same model directory and tokenizer (byte-level,
built here, with filler tokens up to the vocabulary size, so any sampled id decodes) and reward the
same way: rapidfuzz WRatio against a reference, so groups differ in reward and every step
trains. A random model almost never samples its end token, so every completion runs the full
256 tokens on both sides.

TRL runs with `GRPOConfig`'s defaults (bf16 autocast, gradient checkpointing, the dynamic KV
cache) except what fixes the workload: 128 completions per device batch, 8 generations, 256
completion tokens, the learning rate. openrft runs its own job: fp32 weights with TF32
matmuls, static-cache rollouts (compiled by transformers on CUDA), micro-batched loss.

Step time is the median gap between consecutive step ends, leaving out the first two steps
(warm-up, compilation) and openrft's last (it validates). Target: openrft / TRL <= 0.4.
Prints one markdown table; `--json PATH` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")  # TRL/transformers deprecation chatter: not what is measured

import torch  # noqa: E402
from steps import Stamps, step_time, trl_step_time  # noqa: E402  (bench/ is on the path)

from openrft.train.runner import run_job  # noqa: E402
from openrft.train.spec import JobSpec  # noqa: E402

PROMPTS, SAMPLES, TOKENS, LR = 16, 8, 256, 1e-5
SHAPES: dict[str, dict[str, Any]] = {
    "qwen2-0.5b": {  # Qwen2-0.5B's config.json
        "vocab_size": 151_936, "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "max_position_embeddings": 32_768, "rope_theta": 1_000_000.0, "tie_word_embeddings": True,
    },
    "small": {
        "vocab_size": 4096, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 4096, "tie_word_embeddings": True,
    },
}  # fmt: skip
SPECIAL = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> "
    "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)
GRADER = {
    "type": "text_similarity",
    "name": "close",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference }}",
    "evaluation_metric": "fuzzy_match",
}


def build_model(folder: Path, shape: str) -> None:
    """A randomly initialised Qwen2-shaped model and a byte-level tokenizer covering its vocab:
    one token per byte (no merges), then filler tokens `w<id>` up to the vocabulary size, so
    any sampled id decodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**SHAPES[shape], bos_token_id=1, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokens = SPECIAL + sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens += [f"w{index}" for index in range(len(tokens), config.vocab_size)]
    raw = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", additional_special_tokens=SPECIAL[2:], chat_template=TEMPLATE,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)


def make_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def words(k: int) -> str:
        return " ".join(f"w{rng.randrange(1000)}" for _ in range(k))

    return [
        {"messages": [{"role": "user", "content": words(24)}], "reference": words(16)}
        for _ in range(count)
    ]


def openrft_step(model: Path, rows: list[dict[str, Any]], device: str, steps: int) -> float:
    hp = {"batch_size": PROMPTS, "n_epochs": 1, "eval_interval": 10_000, "eval_samples": 1}
    spec = JobSpec(
        id="ftjob-bench-gpu",
        model=str(model),
        training_rows=rows[: PROMPTS * steps],
        validation_rows=rows[-2:],
        method={
            "type": "reinforcement",
            "reinforcement": {"grader": GRADER, "hyperparameters": hp},
        },
        settings={"max_completion_tokens": TOKENS, "device": device},
    )
    stamps = Stamps()
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run_job(spec, workdir=Path(workdir), home=model.parent, events=stamps)
    assert outcome.status == "succeeded", outcome.error
    return step_time(stamps.ends, drop_last=True)


def trl_step(model: Path, rows: list[dict[str, Any]], device: str, steps: int) -> float:
    from rapidfuzz import fuzz, utils

    def close(completions: list[Any], reference: list[str], **_: Any) -> list[float]:
        return [
            fuzz.WRatio(c[0]["content"], r, processor=utils.default_process) / 100
            for c, r in zip(completions, reference, strict=True)
        ]

    data = [{"prompt": r["messages"], "reference": r["reference"]} for r in rows[: PROMPTS * steps]]
    cpu = {"use_cpu": True, "bf16": False} if device == "cpu" else {}
    return trl_step_time(
        model, close, data,
        max_steps=steps, learning_rate=LR, per_device_train_batch_size=PROMPTS * SAMPLES,
        num_generations=SAMPLES, max_completion_length=TOKENS, **cpu,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per side (min 3)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2-0.5b")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    steps = max(3, args.steps) + 1  # the first gap is warm-up
    with tempfile.TemporaryDirectory() as home:
        model = Path(home) / "model"
        build_model(model, args.shape)
        rows = make_rows(PROMPTS * (steps + 1) + 2, 0)
        started = time.perf_counter()
        ours = openrft_step(model, rows, args.device, steps + 1)  # + the validating last step
        middle = time.perf_counter()
        theirs = trl_step(model, rows, args.device, steps)
        done = time.perf_counter()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    setup = f"{args.shape}, {PROMPTS} prompts x {SAMPLES} samples x {TOKENS} tokens, {name}"
    print(f"{setup}; wall: openrft {middle - started:.0f} s, TRL {done - middle:.0f} s")
    print("| side | s/step |\n|---|---|")
    print(f"| openrft | {ours:.3f} |\n| TRL GRPOTrainer (defaults) | {theirs:.3f} |")
    print(f"ratio openrft / TRL: {ours / theirs:.2f} (target <= 0.4)")
    if args.json is not None:
        numbers = {"setup": setup, "openrft_s": ours, "trl_s": theirs, "ratio": ours / theirs}
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
