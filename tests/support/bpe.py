"""Byte-level BPE tokenizers trained in code (the kind Qwen, Llama 3 and SmolLM use), so tests
get real merges and real special tokens without a downloaded tokenizer."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CHATML_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_level_bpe(
    corpus: Iterable[str], vocab_size: int, specials: list[str] | None = None
) -> Tokenizer:
    """A byte-level BPE trained on `corpus`, with `specials` (ChatML's by default) first."""
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        special_tokens=specials if specials is not None else CHATML_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(corpus, trainer)
    return raw
