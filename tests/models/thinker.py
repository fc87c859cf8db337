"""A reasoning chat model built in code: a real `tokenizers` tokenizer with ChatML and
`<think>` tags, a chat template that opens `<think>` in the generation prompt (as DeepSeek-R1
style templates do), and a 1-layer Qwen2 whose weights make it a bigram model that always
says the same thing, so tests can assert exact texts and token counts:

    <think> hmm let me think about it carefully now </think> the answer is 4 <|im_end|>

(8 words of thought, the closing tag, 4 answer words, the end-of-turn token: one token each).
The tokenizer is byte-level BPE, as Qwen's and SmolLM's are. With
`second_eos` it ends its turn with `<|endoftext|>` instead, which only the generation config
lists as an end-of-turn token.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from tokenizers import AddedToken
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from tests.support.bpe import byte_level_bpe

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TAGS = ["<think>", "</think>"]
THOUGHT = "hmm let me think about it carefully now"
ANSWER = "the answer is 4"
CORPUS = [f"\n{THOUGHT} {ANSWER} what is two plus two you are kind user assistant system tool"]
TEMPLATE = (
    "{%- if tools %}<|im_start|>system\ntools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}"
    "{% if loop.index0 > 0 and m['role'] == 'user' and messages[loop.index0 - 1]['role'] == 'user' %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant') }}"
    "{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function'] | tojson }}</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
SAID = f"\n{THOUGHT}</think> {ANSWER}"
"""What follows the prompt's last `<think>`: the newline ends the prompt, the rest is said."""
THOUGHT_TOKENS = len(THOUGHT.split()) + 1  # one token a word, and `</think>`


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE (as Qwen's and SmolLM's), trained so that every word above is a token."""
    raw = byte_level_bpe(CORPUS * 20, vocab_size=400, specials=SPECIALS)
    raw.add_tokens([AddedToken(tag, special=False) for tag in TAGS])  # as Qwen3's are
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def build_model(tokenizer: PreTrainedTokenizerFast, *, second_eos: bool) -> Qwen2ForCausalLM:
    ids = tokenizer.convert_tokens_to_ids
    eos = "<|endoftext|>" if second_eos else "<|im_end|>"
    chain = tokenizer(SAID + eos, add_special_tokens=False)["input_ids"]
    assert len(set(chain)) == len(chain) == THOUGHT_TOKENS + len(ANSWER.split()) + 2
    following = dict(itertools.pairwise(chain))
    vocab = len(tokenizer)
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=-(-vocab // 4) * 4, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=False, eos_token_id=ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    assert vocab <= config.hidden_size  # one-hot embeddings
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        # The layers add nothing to the residual stream, so the last position's hidden state
        # is its token's one-hot embedding, and the head maps each token to its successor.
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, config.hidden_size))
        model.lm_head.weight.zero_()
        for token in range(vocab):
            model.lm_head.weight[following.get(token, ids("<|im_end|>")), token] = 20.0
    model.generation_config.eos_token_id = [ids("<|im_end|>"), ids("<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_thinker(folder: Path, *, second_eos: bool = False) -> Path:
    tokenizer = build_tokenizer()
    build_model(tokenizer, second_eos=second_eos).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
