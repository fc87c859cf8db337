"""A logits processor that keeps sampled text inside a JSON schema's language.

Every row of the batch carries an automaton state. Before each token, tokens whose bytes would
leave the language (or leave too few tokens to close the JSON before `max_new_tokens`) get
-inf. For a byte-level tokenizer this is exact; for other tokenizers each token is checked by
its decoded text (token-prefix validation). Masks are memoised per automaton state, so a
string's many bytes share one mask.
"""

from __future__ import annotations

import json
import math
import weakref
from collections import OrderedDict
from typing import Any

import torch

from openrft.models.structured import JsonAutomaton, State

_INF = float("inf")


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """Each token's UTF-8 text; None for special tokens and tokens that decode to nothing."""
    special = set(tokenizer.all_special_ids)
    table: list[bytes | None] = []
    for token_id in range(len(tokenizer)):
        text = "" if token_id in special else tokenizer.decode([token_id])
        table.append(text.encode() or None)
    return table


class JsonConstraint:
    """`transformers` LogitsProcessor protocol: `(input_ids, scores) -> scores`."""

    def __init__(
        self,
        automaton: JsonAutomaton,
        table: list[bytes | None],
        eos_id: int,
        max_new: int,
        masks: dict[State | None, torch.Tensor] | None = None,
    ):
        self.automaton = automaton
        self.table = table
        self.eos_id = eos_id
        self.max_new = max_new
        self._masks = masks if masks is not None else {}
        """Shared between calls with the same tokenizer and schema (see `constraint_for`)."""
        self._states: list[State | None] = []
        self._done: list[bool] = []
        self._start_len = -1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        length = input_ids.shape[1]
        if self._start_len < 0:
            self._start_len = length
            self._states = [self.automaton.start] * input_ids.shape[0]
            self._done = [False] * input_ids.shape[0]
        else:
            self._advance(input_ids[:, -1].tolist())
        remaining = self.max_new - (length - self._start_len)
        bias = torch.stack([self._bias(row, remaining) for row in range(len(self._states))])
        bias = bias.to(scores.device, scores.dtype)
        masked = scores + bias
        # A top-p/top-k filter that ran first may have removed every allowed token: sample
        # uniformly among the allowed ones rather than from an all -inf row.
        empty = torch.isinf(masked).all(dim=-1, keepdim=True)
        return torch.where(empty, bias, masked)  # type: ignore[return-value]

    def _advance(self, last: list[int]) -> None:
        for row, token in enumerate(last):
            if self._done[row] or token == self.eos_id:
                self._done[row] = True
                continue
            data = self.table[token] if token < len(self.table) else None
            self._states[row] = self.automaton.feed(self._states[row], data or b"\xff\xff")

    def _bias(self, row: int, remaining: int) -> torch.Tensor:
        """0 for allowed tokens, -inf for the rest; eos alone once the row is finished."""
        state = self._states[row]
        if self._done[row]:
            return self._eos_only()
        distance = self._mask(state)
        allowed = distance <= remaining - 2  # leave room for eos after the JSON closes
        if not bool(allowed.any()):
            allowed = distance <= remaining - 1
        if self.automaton.accepts(state):
            allowed[self.eos_id] = True
        if not bool(allowed.any()):
            return self._eos_only()  # unreachable for a satisfiable budget; never all -inf
        return torch.where(allowed, 0.0, -_INF)

    def _eos_only(self) -> torch.Tensor:
        bias = torch.full((len(self.table),), -_INF)
        bias[self.eos_id] = 0.0
        return bias

    def _mask(self, state: State | None) -> torch.Tensor:
        """Per token: the fewest bytes to close the JSON after it (inf when it is invalid)."""
        if state not in self._masks:
            feed, distance = self.automaton.feed, self.automaton.distance
            values = [_INF if data is None else distance(feed(state, data)) for data in self.table]
            self._masks[state] = torch.tensor(values)
        return self._masks[state].clone()


def tokens_needed(tokenizer: Any, schema: dict[str, Any]) -> int:
    """The fewest `max_new_tokens` with which `JsonConstraint` can close `schema`'s JSON: it
    lets the first token cover several bytes, then counts a byte per token (`_bias`), so a
    budget below 1 + the bytes left after the best first token ends every row empty."""
    vocabulary = _vocabulary(tokenizer)
    automaton, _ = vocabulary.compiled(schema)
    start, feed, distance = automaton.start, automaton.feed, automaton.distance
    best = min((distance(feed(start, data)) for data in vocabulary.table if data), default=_INF)
    return 1 + int(best) if math.isfinite(best) else 1 + int(distance(start))


class _Vocabulary:
    """Per tokenizer: its token bytes, and per schema an automaton and its memoised masks."""

    def __init__(self, tokenizer: Any):
        self.table = token_bytes(tokenizer)
        self.schemas: OrderedDict[str, tuple[JsonAutomaton, dict[State | None, torch.Tensor]]]
        self.schemas = OrderedDict()

    def compiled(self, schema: dict[str, Any]) -> tuple[JsonAutomaton, dict[State | None, Any]]:
        key = json.dumps(schema, sort_keys=True)
        if key not in self.schemas:
            self.schemas[key] = (JsonAutomaton(schema), {})
            while len(self.schemas) > _SCHEMAS_PER_TOKENIZER:
                self.schemas.popitem(last=False)
        self.schemas.move_to_end(key)
        return self.schemas[key]


_VOCABULARIES: weakref.WeakKeyDictionary[Any, _Vocabulary] = weakref.WeakKeyDictionary()
_SCHEMAS_PER_TOKENIZER = 32


def _vocabulary(tokenizer: Any) -> _Vocabulary:
    vocabulary = _VOCABULARIES.get(tokenizer)
    if vocabulary is None:
        vocabulary = _VOCABULARIES[tokenizer] = _Vocabulary(tokenizer)
    return vocabulary


def constraint_for(tokenizer: Any, schema: dict[str, Any], max_new: int) -> JsonConstraint:
    """A fresh processor (it holds per-row state) over cached tables, automata and masks."""
    vocabulary = _vocabulary(tokenizer)
    automaton, masks = vocabulary.compiled(schema)
    return JsonConstraint(automaton, vocabulary.table, tokenizer.eos_token_id, max_new, masks)
