"""Any Hugging Face causal LM by local path: a Qwen2 model with a real BPE tokenizer (merges,
multi-byte tokens), built in-process and saved, then trained and constrained like tiny."""

import json
from pathlib import Path

import jsonschema
import pytest
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from openrft.models.registry import load_model
from openrft.models.sampling import sample
from openrft.train.runner import run_job
from tests.support.bpe import byte_level_bpe
from tests.train.helpers import ListSink, demo_spec

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["answer", "n"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = ['{"answer":"12379","n":5}', "sort 93172: 12379", "the answer is"] * 50
    raw = byte_level_bpe(corpus, vocab_size=400)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = TEMPLATE
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("qwen-bpe")
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_multi_byte_tokens_are_checked_by_their_text(bpe_model: Path) -> None:
    loaded = load_model(str(bpe_model), home=bpe_model)
    assert loaded.tokenizer.padding_side == "left"
    merged = [t for t in range(len(loaded.tokenizer)) if len(loaded.tokenizer.decode([t])) > 1]
    assert len(merged) > 20  # a real BPE vocabulary, not one token per byte
    rollouts = sample(loaded, ["sort 5:"], n=8, max_new_tokens=40, schema=SCHEMA, seed=0)
    for text in rollouts.texts:
        jsonschema.validate(json.loads(text), SCHEMA)


def test_a_job_runs_on_a_local_model_path(bpe_model: Path, tmp_path: Path) -> None:
    spec = demo_spec(2, batch=2, valid=4, settings={"max_completion_tokens": 8})
    spec = spec.model_copy(update={"model": str(bpe_model)})
    sink = ListSink()
    outcome = run_job(spec, workdir=tmp_path, home=tmp_path, events=sink)
    assert outcome.status == "succeeded", outcome.error
    assert [m["step"] for m in sink.metrics()] == [1, 2]
    assert outcome.resolved_hyperparameters is not None
    served = load_model(outcome.fine_tuned_model_path, home=tmp_path)
    assert type(served.model).__name__ == "Qwen2ForCausalLM"


def test_a_budget_check_counts_with_the_models_tokenizer(bpe_model: Path) -> None:
    """Job create's response_format check (jobs/budget.py) with multi-byte tokens: the need is
    below the shortest JSON's 19 bytes, and exactly the budget constrained sampling needs."""
    from openrft.jobs.budget import _tokenizer
    from openrft.models.constrain import tokens_needed

    loaded = load_model(str(bpe_model), home=bpe_model)
    need = tokens_needed(_tokenizer(str(bpe_model)), SCHEMA)
    assert need == tokens_needed(loaded.tokenizer, SCHEMA) < len(b'{"answer":"","n":0}')
    fits = sample(loaded, ["sort 5:"], n=4, max_new_tokens=need, schema=SCHEMA, seed=0)
    for text in fits.texts:
        jsonschema.validate(json.loads(text), SCHEMA)
    short = sample(loaded, ["sort 5:"], n=4, max_new_tokens=need - 1, schema=SCHEMA, seed=0)
    assert all(not text.endswith("}") for text in short.texts), short.texts
