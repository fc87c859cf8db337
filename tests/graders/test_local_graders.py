"""string_check (G1) and text_similarity (G2): every operation, every metric against the library."""

from __future__ import annotations

import re
from functools import partial

import pytest
from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz import fuzz, utils
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu import sentence_bleu

from openrft.graders import run_grader
from openrft.graders.text_similarity import tokens

PAIRS = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("continue unfractionated heparin", "begin warfarin and continue unfractionated heparin"),
    ("acute anterior uveitis", "recurring eye redness and pain"),
    ("hypokalemia", "hypomagnesemia"),
    ("12379", "97321"),
    ("Café au lait, s'il vous plaît!", "cafe au lait s'il vous plait"),
    ("a b c d e f g h", "a b c d e f g h i"),
    ("running runners ran quickly", "the runner runs quick"),
]


def _ts(metric: str, text: str, reference: str) -> float:
    grader = {
        "type": "text_similarity",
        "name": "t",
        "input": "{{sample.output_text}}",
        "reference": "{{item.reference}}",
        "evaluation_metric": metric,
    }
    response = run_grader(grader, text, {"reference": reference})
    assert not any(v for k, v in response["metadata"]["errors"].items()), response
    return float(response["reward"])


def _words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())


def _rouge(metric: str, text: str, reference: str) -> float:
    key = "rougeL" if metric == "rouge_l" else f"rouge{metric[-1]}"
    return float(RougeScorer([key], use_stemmer=False).score(reference, text)[key].fmeasure)


REFERENCE = {
    "fuzzy_match": lambda t, r: fuzz.WRatio(t, r, processor=utils.default_process) / 100,
    "bleu": lambda t, r: sentence_bleu(t, [r]).score / 100,
    "gleu": lambda t, r: sentence_gleu([_words(r)], _words(t)),
    "meteor": lambda t, r: meteor_score([_words(r)], _words(t)),
    **{m: partial(_rouge, m) for m in ("rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")},
}  # fmt: skip


@pytest.mark.parametrize("metric", sorted(REFERENCE))
@pytest.mark.parametrize(("text", "reference"), PAIRS)
def test_metric_equals_the_reference_library_call(metric: str, text: str, reference: str) -> None:
    expected = REFERENCE[metric](text, reference)
    assert _ts(metric, text, reference) == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= expected <= 1.0


@pytest.mark.parametrize("metric", sorted(REFERENCE))
def test_identical_and_empty_edge_cases(metric: str) -> None:
    assert _ts(metric, "same words here", "same words here") == 1.0
    assert _ts(metric, "", "") == 1.0
    assert _ts(metric, "", "reference") == 0.0
    assert _ts(metric, "output", "") == 0.0


def test_known_values_pin_the_implementations() -> None:
    # Values computed once with the pinned libraries; they catch a silent change of metric.
    assert _ts("fuzzy_match", "hypokalemia", "hypomagnesemia") == pytest.approx(0.72, abs=1e-9)
    assert _ts("rouge_1", "the cat sat", "the cat sat down") == pytest.approx(6 / 7)
    assert _ts("rouge_l", "a b c", "a c") == pytest.approx(0.8)


def test_tokens_lowercase_words_and_punctuation() -> None:
    assert tokens("Hello, World! It's 3.5") == [
        "hello",
        ",",
        "world",
        "!",
        "it",
        "'",
        "s",
        "3",
        ".",
        "5",
    ]


def _sc(operation: str, text: str, reference: str) -> float:
    grader = {
        "type": "string_check",
        "name": "s",
        "input": "{{sample.output_text}}",
        "reference": "{{item.r}}",
        "operation": operation,
    }
    return float(run_grader(grader, text, {"r": reference})["reward"])


@pytest.mark.parametrize(
    ("operation", "text", "reference", "expected"),
    [
        ("eq", "yes", "yes", 1.0),
        ("eq", "yes", "Yes", 0.0),
        ("eq", "yes ", "yes", 0.0),
        ("eq", "", "", 1.0),
        ("ne", "yes", "no", 1.0),
        ("ne", "yes", "yes", 0.0),
        ("neq", "a", "b", 1.0),
        ("like", "the answer is yes.", "yes", 1.0),
        ("like", "yes", "the answer is yes", 0.0),
        ("like", "YES", "yes", 0.0),
        ("like", "anything", "", 1.0),
        ("like", "100%", "%", 1.0),
        ("like", "abc", "a%c", 0.0),
        ("ilike", "The Answer Is YES", "yes", 1.0),
        ("ilike", "STRASSE", "straße", 1.0),
        ("ilike", "no", "yes", 0.0),
    ],
)
def test_string_check(operation: str, text: str, reference: str, expected: float) -> None:
    assert _sc(operation, text, reference) == expected
