"""A job's `response_format` against its completion budget, checked when the job is created.

Rollouts are sampled inside the schema (`models/constrain.py`) within the job's completion
budget: max completion tokens after `reasoning_effort` (decision J2). A schema whose shortest
valid JSON cannot fit that budget would end every sample empty and fail the job at step 1, so
create answers 400 with both numbers. The need is counted with the base model's tokenizer by
the constraint's own rule (`tokens_needed`); when the tokenizer cannot be loaded here (a hub
id not in the local cache) nothing is rejected: the job reports the problem when it loads.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from openrft.errors import InvalidRequestError
from openrft.train.hparams import base_completion_tokens, completion_budget, effort_of
from openrft.train.spec import TrainSettings

PARAM = "method.reinforcement.response_format"


def check_response_format(
    response_format: dict[str, Any] | None,
    *,
    model: str,
    source: str,
    reasoning_effort: str | None,
    settings: TrainSettings,
) -> None:
    """400 when `response_format`'s shortest JSON needs more tokens than a rollout may use.
    `model` is the name the caller gave, `source` what the trainer loads for it."""
    from openrft.models.constrain import tokens_needed
    from openrft.models.structured import JsonAutomaton, schema_of

    try:
        schema = schema_of(response_format)
        shortest = JsonAutomaton(schema).shortest() if schema is not None else None
    except InvalidRequestError as exc:
        raise InvalidRequestError(exc.message, param=PARAM) from None
    tokenizer = _tokenizer(source)
    if schema is None or shortest is None or tokenizer is None:
        return
    effort = effort_of(reasoning_effort)
    base = base_completion_tokens(settings, source)
    budget, need = completion_budget(base, effort), tokens_needed(tokenizer, schema)
    if need > budget:
        raise InvalidRequestError(
            f"response_format cannot fit the completion budget: its shortest valid JSON, "
            f"{shortest.decode()} ({len(shortest)} bytes), needs {need} completion tokens with "
            f"{model}'s tokenizer, but a rollout may use {budget} (max completion tokens {base} "
            f"× reasoning_effort '{effort}'). Raise settings.max_completion_tokens or "
            f"reasoning_effort, or shorten the schema.",
            param=PARAM,
        )


@functools.lru_cache(maxsize=8)
def _tokenizer(source: str) -> Any | None:
    """The tokenizer of what the trainer will load (`ModelCatalog.resolve`), without weights."""
    from transformers import AutoTokenizer

    from openrft.models import tiny

    if source == tiny.NAME:
        return tiny.build_tokenizer()
    path = Path(source)
    if (path / "manifest.json").exists() and (path / "model").is_dir():
        path = path / "model"  # a checkpoint (registry.resolve_path)
    try:
        return AutoTokenizer.from_pretrained(
            path if path.is_dir() else source, local_files_only=True
        )
    except (OSError, ValueError):
        return None
