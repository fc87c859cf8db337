"""`text_similarity` (decision G2): eleven metrics, each a float in [0, 1].

Library modules are imported on first use of their metric, so `import openrft.graders` stays
light. The implementations are exactly the library calls G2 names; `bleu` builds sacrebleu's
metric object once with `sentence_bleu`'s settings instead of once per call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from openrft.graders.context import GraderContext
from openrft.graders.result import GradeResult
from openrft.graders.sample import Sample
from openrft.graders.schema import TextSimilarityGrader
from openrft.graders.template import compile_template

Scorer = Callable[[str, str], float]
_WORDS = re.compile(r"\w+|[^\w\s]")


class MetricUnavailableError(RuntimeError):
    """A metric's offline data is missing (WordNet for meteor); the message says how to fix it."""


def tokens(text: str) -> list[str]:
    """The gleu/meteor tokenizer of G2."""
    return _WORDS.findall(text.lower())


@cache
def _fuzzy() -> Scorer:
    from rapidfuzz import fuzz, utils

    ratio, process = fuzz.WRatio, utils.default_process
    return lambda text, reference: ratio(text, reference, processor=process) / 100


@cache
def _bleu() -> Scorer:
    from sacrebleu.metrics import BLEU

    # sacrebleu.sentence_bleu's own defaults: exp smoothing, effective order.
    metric = BLEU(effective_order=True)
    return lambda text, reference: metric.sentence_score(text, [reference]).score / 100


@cache
def _gleu() -> Scorer:
    from nltk.translate.gleu_score import sentence_gleu

    return lambda text, reference: sentence_gleu([tokens(reference)], tokens(text))


@cache
def _meteor() -> Scorer:
    from nltk.corpus import wordnet
    from nltk.translate.meteor_score import meteor_score

    try:
        wordnet.ensure_loaded()
    except LookupError:
        raise MetricUnavailableError(
            "meteor needs the WordNet 3.0 database offline: run `make venv` (it installs "
            "Debian's wordnet-base and wordnet-sense-index into the venv's nltk_data)"
        ) from None
    return lambda text, reference: meteor_score([tokens(reference)], tokens(text))


@cache
def _rouge(metric: str) -> Scorer:
    from rouge_score.rouge_scorer import RougeScorer

    key = "rougeL" if metric == "rouge_l" else f"rouge{metric[-1]}"
    scorer = RougeScorer([key], use_stemmer=False)
    return lambda text, reference: scorer.score(reference, text)[key].fmeasure


def scorer(metric: str) -> Scorer:
    """The scoring function for a local (non-cosine) metric."""
    if metric == "fuzzy_match":
        return _fuzzy()
    if metric == "bleu":
        return _bleu()
    if metric == "gleu":
        return _gleu()
    if metric == "meteor":
        return _meteor()
    return _rouge(metric)


def score_many(metric: str, texts: Sequence[str], references: Sequence[str]) -> list[float]:
    """Scores of many non-trivial pairs; fuzzy_match runs as one multi-threaded C call."""
    if not texts:
        return []
    if metric != "fuzzy_match":
        score = scorer(metric)
        return [
            float(score(text, reference)) for text, reference in zip(texts, references, strict=True)
        ]
    import numpy as np
    from rapidfuzz import fuzz, process, utils

    matrix = process.cpdist(
        texts, references, scorer=fuzz.WRatio, processor=utils.default_process,
        workers=-1, dtype=np.float64,
    )  # fmt: skip
    scores: list[float] = (matrix / 100).tolist()
    return scores


def edge_case(text: str, reference: str) -> float | None:
    """G2: identical strings (both empty included) score 1, exactly one empty side scores 0."""
    if text == reference:
        return 1.0
    if not text or not reference:
        return 0.0
    return None


def grade(spec: TextSimilarityGrader, sample: Sample, item: Any) -> GradeResult:
    text = compile_template(spec.input).render(sample, item)
    reference = compile_template(spec.reference).render(sample, item)
    fixed = edge_case(text, reference)
    if fixed is not None:
        return GradeResult(fixed)
    return GradeResult(float(scorer(spec.evaluation_metric)(text, reference)))


async def agrade_cosine(
    spec: TextSimilarityGrader, sample: Sample, item: Any, ctx: GraderContext
) -> GradeResult:
    text = compile_template(spec.input).render(sample, item)
    reference = compile_template(spec.reference).render(sample, item)
    fixed = edge_case(text, reference)
    if fixed is not None:
        return GradeResult(fixed)
    root = ctx.root()
    if root.embeddings is None:
        from openrft.graders.embeddings import EmbeddingsClient

        root.embeddings = EmbeddingsClient.from_env()
    first, second = await root.embeddings.embed([text, reference])
    return GradeResult(max(0.0, cosine(first, second)))


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0
