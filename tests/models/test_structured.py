import json
import random
from pathlib import Path

import jsonschema
import pytest

from openrft.models.generate import ChatRequest, chat_completions
from openrft.models.registry import load_model
from openrft.models.sampling import sample
from openrft.models.structured import JsonAutomaton, schema_of

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "score": {"type": "number"},
        "count": {"type": "integer"},
        "ok": {"type": "boolean"},
        "kind": {"enum": ["a", "b", 3]},
        "digits": {"type": "array", "items": {"type": "integer"}},
        "inner": {
            "type": "object",
            "properties": {"x": {"type": "string"}},
            "required": ["x"],
            "additionalProperties": False,
        },
    },
    "required": ["answer", "score", "count", "ok", "kind", "digits", "inner"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "out", "strict": True, "schema": SCHEMA}}


def accepts(text: str) -> bool:
    automaton = JsonAutomaton(SCHEMA)
    return automaton.accepts(automaton.feed(automaton.start, text.encode()))


GOOD = '{"answer":"hé","score":-1.5,"count":0,"ok":true,"kind":3,"digits":[1,22],"inner":{"x":""}}'


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        '{"answer":"","score":0,"count":-7,"ok":false,"kind":"a","digits":[],"inner":{"x":"y"}}',
    ],
)
def test_the_automaton_accepts_valid_compact_json(text: str) -> None:
    assert accepts(text)
    jsonschema.validate(json.loads(text), SCHEMA)


@pytest.mark.parametrize(
    "text",
    [
        GOOD[:-1],  # unclosed
        GOOD.replace('"count":0', '"count":01'),  # leading zero
        GOOD.replace('"count":0', '"count":1.5'),  # integer with a fraction
        GOOD.replace('"kind":3', '"kind":"c"'),  # not in the enum
        GOOD.replace('"ok":true', '"ok":1'),
        GOOD.replace('{"answer"', '{"extra":1,"answer"'),  # additionalProperties false
        GOOD + " ",
    ],
)
def test_the_automaton_rejects_everything_else(text: str) -> None:
    assert not accepts(text)


def test_distance_is_the_shortest_way_to_close() -> None:
    automaton = JsonAutomaton({"type": "object", "properties": {"a": {"type": "string"}}})
    assert automaton.distance(automaton.start) == len('{"a":""}')
    assert automaton.distance(automaton.feed(automaton.start, b'{"a":"xyz')) == 2
    assert automaton.distance(automaton.feed(automaton.start, b"[")) == float("inf")


def test_both_response_format_shapes_are_accepted() -> None:
    assert schema_of(FORMAT) == SCHEMA
    assert schema_of({"type": "json_schema", "name": "out", "schema": SCHEMA}) == SCHEMA
    assert schema_of({"type": "text"}) is None


@pytest.mark.parametrize("budget", [84, 100, 160])
def test_constrained_output_always_parses_and_validates(home: Path, budget: int) -> None:
    """The tiny model knows nothing of JSON: every sample is shaped by the constraint alone,
    including the close-before-the-budget rule on the shortest budget."""
    loaded = load_model("openrft-tiny", home=home)
    prompts = [f"sort {random.Random(i).randint(100, 99999)}:" for i in range(4)]
    rollouts = sample(loaded, prompts, n=4, max_new_tokens=budget, schema=SCHEMA, seed=budget)
    for text in rollouts.texts:
        jsonschema.validate(json.loads(text), SCHEMA)


def test_chat_completions_with_response_format_parse(home: Path) -> None:
    loaded = load_model("openrft-tiny", home=home)
    request = ChatRequest(
        [{"role": "user", "content": "sort 321:"}],
        n=3,
        max_tokens=120,
        response_format=FORMAT,
        seed=1,
    )
    for completion in chat_completions(loaded, [request])[0]:
        jsonschema.validate(json.loads(completion.text), SCHEMA)
        assert completion.finish_reason == "stop"


def test_constrained_sampling_survives_a_narrow_top_p(home: Path) -> None:
    loaded = load_model("openrft-tiny", home=home)
    rollouts = sample(
        loaded, ["sort 12:"], n=4, max_new_tokens=100, top_p=0.05, schema=SCHEMA, seed=3
    )
    for text in rollouts.texts:
        jsonschema.validate(json.loads(text), SCHEMA)


def test_tokens_needed_is_the_least_budget_the_constraint_closes_the_json_in(home: Path) -> None:
    """Job create rejects a response_format by this number (jobs/budget.py): one token fewer
    and every sample ends empty, that many and every sample is valid JSON."""
    from openrft.models.constrain import tokens_needed

    loaded = load_model("openrft-tiny", home=home)
    shortest = JsonAutomaton(SCHEMA).shortest()
    jsonschema.validate(json.loads(shortest), SCHEMA)
    need = tokens_needed(loaded.tokenizer, SCHEMA)
    assert need == len(shortest)  # a byte-level tokenizer: one byte per token
    prompt = ["<|user|>sort 123:<|end|><|assistant|>"]
    short = sample(loaded, prompt, n=4, max_new_tokens=need - 1, schema=SCHEMA, seed=0)
    assert short.texts == [""] * 4
    enough = sample(loaded, prompt, n=4, max_new_tokens=need, schema=SCHEMA, seed=0)
    for text in enough.texts:
        jsonschema.validate(json.loads(text), SCHEMA)


def nested_arrays(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


def test_nested_arrays_grow_the_automaton_linearly() -> None:
    """Each array level is built once: building its item twice doubled the automaton per level, so a
    30-deep `response_format` took billions of nodes and never compiled."""
    sizes = [len(JsonAutomaton(nested_arrays(depth))._nfa.edges) for depth in (6, 12)]
    assert sizes[1] < 2.5 * sizes[0]
    automaton = JsonAutomaton(nested_arrays(3))
    for text, ok in [("[[[1,2],[]],[[3]]]", True), ("[]", True), ("[[[1,]]]", False)]:
        assert automaton.accepts(automaton.feed(automaton.start, text.encode())) is ok
