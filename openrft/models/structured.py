"""`response_format` JSON schemas as a byte-level automaton, for constrained generation.

The supported subset (what strict structured outputs use): an object with `properties` of type
string, number, integer, boolean, `enum`, nested object, or array of those; `required`;
`additionalProperties: false`. The language is regular (no `$ref`, no recursion), so the
schema compiles to an NFA over UTF-8 bytes; states are epsilon-closed sets of NFA nodes,
memoised, so a DFA is built lazily as generation visits it. Output is compact JSON with the
properties in schema order, every property present (valid for any `required`). Strings take
no escapes and no control bytes; numbers at most 12 digits. `distance` (the fewest bytes to
an accepting state) lets generation close the JSON before `max_tokens` runs out.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from openrft.errors import InvalidRequestError

ByteSet = frozenset[int]
State = frozenset[int]
_DIGITS: ByteSet = frozenset(b"0123456789")
_NONZERO: ByteSet = frozenset(b"123456789")
_STRING_BYTE: ByteSet = frozenset(range(0x20, 256)) - frozenset(b'"\\')
_MAX_DIGITS = 12


class _Nfa:
    def __init__(self) -> None:
        self.edges: list[list[tuple[ByteSet | None, int]]] = []

    def node(self) -> int:
        self.edges.append([])
        return len(self.edges) - 1

    def link(self, a: int, b: int, on: ByteSet | None = None) -> None:
        self.edges[a].append((on, b))


Frag = tuple[int, int]  # (entry, exit)


def _literal(nfa: _Nfa, text: bytes) -> Frag:
    start = end = nfa.node()
    for byte in text:
        nxt = nfa.node()
        nfa.link(end, nxt, frozenset([byte]))
        end = nxt
    return start, end


def _seq(nfa: _Nfa, *frags: Frag) -> Frag:
    for (_, a_end), (b_start, _) in itertools.pairwise(frags):
        nfa.link(a_end, b_start)
    return frags[0][0], frags[-1][1]


def _alt(nfa: _Nfa, *frags: Frag) -> Frag:
    start, end = nfa.node(), nfa.node()
    for entry, exit_ in frags:
        nfa.link(start, entry)
        nfa.link(exit_, end)
    return start, end


def _star(nfa: _Nfa, frag: Frag) -> Frag:
    start = nfa.node()
    nfa.link(start, frag[0])
    nfa.link(frag[1], start)
    return start, start


def _set(nfa: _Nfa, allowed: ByteSet) -> Frag:
    a, b = nfa.node(), nfa.node()
    nfa.link(a, b, allowed)
    return a, b


def _digits(nfa: _Nfa, count: int) -> Frag:
    """`0` or up to `count` digits without a leading zero."""
    start, end = nfa.node(), nfa.node()
    nfa.link(start, end, frozenset(b"0"))
    node = nfa.node()
    nfa.link(start, node, _NONZERO)
    nfa.link(node, end)
    for _ in range(count - 1):
        nxt = nfa.node()
        nfa.link(node, nxt, _DIGITS)
        nfa.link(nxt, end)
        node = nxt
    return start, end


def _value(nfa: _Nfa, schema: dict[str, Any], path: str) -> Frag:
    if "enum" in schema:
        choices = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in schema["enum"]]
        return _alt(nfa, *(_literal(nfa, c.encode()) for c in choices))
    kind = schema.get("type")
    if kind == "string":
        return _seq(
            nfa, _literal(nfa, b'"'), _star(nfa, _set(nfa, _STRING_BYTE)), _literal(nfa, b'"')
        )
    if kind in ("integer", "number"):
        sign = _alt(nfa, _literal(nfa, b"-"), _literal(nfa, b""))
        whole = _seq(nfa, sign, _digits(nfa, _MAX_DIGITS))
        if kind == "integer":
            return whole
        fraction = _seq(
            nfa, _literal(nfa, b"."), _set(nfa, _DIGITS), _star(nfa, _set(nfa, _DIGITS))
        )
        return _seq(nfa, whole, _alt(nfa, fraction, _literal(nfa, b"")))
    if kind == "boolean":
        return _alt(nfa, _literal(nfa, b"true"), _literal(nfa, b"false"))
    if kind == "array":
        # `item (, item)*` with one item fragment looped back through the comma: building
        # the item twice would double the automaton at every level of nested arrays.
        item = _value(nfa, schema.get("items") or {}, f"{path}.items")
        comma = _literal(nfa, b",")
        nfa.link(item[1], comma[0])
        nfa.link(comma[1], item[0])
        body = _alt(nfa, item, _literal(nfa, b""))
        return _seq(nfa, _literal(nfa, b"["), body, _literal(nfa, b"]"))
    if kind == "object":
        return _object(nfa, schema, path)
    raise InvalidRequestError(f"unsupported schema at {path}: {schema!r}", param="response_format")


def _object(nfa: _Nfa, schema: dict[str, Any], path: str) -> Frag:
    properties: dict[str, Any] = schema.get("properties") or {}
    parts = [_literal(nfa, b"{")]
    for index, (key, sub) in enumerate(properties.items()):
        head = ("," if index else "") + json.dumps(key, ensure_ascii=False) + ":"
        parts += [_literal(nfa, head.encode()), _value(nfa, sub, f"{path}.{key}")]
    parts.append(_literal(nfa, b"}"))
    return _seq(nfa, *parts)


class JsonAutomaton:
    """Steps bytes through the schema's language; `None` is the dead state."""

    def __init__(self, schema: dict[str, Any]):
        self._nfa = _Nfa()
        entry, self._accept = _value(self._nfa, schema, "schema")
        self._steps: dict[tuple[State, int], State | None] = {}
        self._distance = self._distances()
        self.start: State = self._closure({entry})

    def _closure(self, nodes: set[int]) -> State:
        stack, seen = list(nodes), set(nodes)
        while stack:
            for on, target in self._nfa.edges[stack.pop()]:
                if on is None and target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)

    def _distances(self) -> list[float]:
        """Fewest bytes from each node to the accept node (a reverse breadth-first search)."""
        reverse: list[list[tuple[int, int]]] = [[] for _ in self._nfa.edges]
        for source, edges in enumerate(self._nfa.edges):
            for on, target in edges:
                reverse[target].append((source, 0 if on is None else 1))
        distance = [float("inf")] * len(self._nfa.edges)
        distance[self._accept] = 0
        queue = deque([self._accept])
        while queue:  # 0-1 BFS: epsilon edges cost nothing
            node = queue.popleft()
            for source, cost in reverse[node]:
                if distance[node] + cost < distance[source]:
                    distance[source] = distance[node] + cost
                    (queue.appendleft if cost == 0 else queue.append)(source)
        return distance

    def step(self, state: State | None, byte: int) -> State | None:
        if state is None:
            return None
        key = (state, byte)
        if key not in self._steps:
            moved = {t for n in state for on, t in self._nfa.edges[n] if on and byte in on}
            self._steps[key] = self._closure(moved) if moved else None
        return self._steps[key]

    def feed(self, state: State | None, data: bytes) -> State | None:
        for byte in data:
            state = self.step(state, byte)
        return state

    def distance(self, state: State | None) -> float:
        return float("inf") if state is None else min(self._distance[n] for n in state)

    def accepts(self, state: State | None) -> bool:
        return state is not None and self._accept in state

    def shortest(self) -> bytes:
        """The shortest text in the language: each byte one step closer to accepting."""
        state: State | None = self.start
        out = bytearray()
        while (left := self.distance(state)) > 0:
            byte = next(b for b in range(256) if self.distance(self.step(state, b)) == left - 1)
            state = self.step(state, byte)
            out.append(byte)
        return bytes(out)


def schema_of(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema in a `response_format`, in Chat Completions or flattened shape."""
    if not response_format or response_format.get("type") != "json_schema":
        return None
    inner = response_format.get("json_schema", response_format)
    schema = inner.get("schema")
    if not isinstance(schema, dict):
        raise InvalidRequestError(
            "response_format.json_schema.schema is required", param="response_format"
        )
    return schema
