"""Deterministic splitting (decision D4 and `openrft data split`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from openrft.data.prompts import prompt_key
from openrft.data.split import split_rows, valid_count


def row(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


ROWS = [row(f"question number {i}", label="abc"[i % 3], i=i) for i in range(200)]


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["i"] for r in rows]


def test_same_seed_same_split_other_seed_other_split() -> None:
    first = split_rows(ROWS, seed=7)
    assert first == split_rows(ROWS, seed=7)
    assert ids(first[1]) != ids(split_rows(ROWS, seed=8)[1])


def test_every_row_lands_exactly_once_in_input_order() -> None:
    train, valid = split_rows(ROWS, seed=1)
    assert sorted(ids(train) + ids(valid)) == list(range(200))
    assert ids(train) == sorted(ids(train)) and ids(valid) == sorted(ids(valid))
    assert len(valid) == 20


@pytest.mark.parametrize(
    ("total", "fraction", "cap", "expected"),
    [(0, 0.1, 1000, 0), (1, 0.1, 1000, 0), (2, 0.1, 1000, 1), (5, 0.1, 1000, 1), (15, 0.1, 1000, 2),
     (100, 0.1, 1000, 10), (20_000, 0.1, 1000, 1000), (50_000, 0.1, 1000, 1000), (10, 1.0, 1000, 9)],
)  # fmt: skip
def test_d4_size_is_10_percent_at_most_1000(
    total: int, fraction: float, cap: int, expected: int
) -> None:
    assert valid_count(total, fraction, cap) == expected


def test_d4_on_a_large_file_caps_validation_at_1000() -> None:
    rows = [row(f"q {i}", i=i) for i in range(12_000)]
    train, valid = split_rows(rows, seed=42)
    assert len(valid) == 1000 and len(train) == 11_000


def test_valid_size_overrides_the_fraction() -> None:
    assert len(split_rows(ROWS, seed=3, valid_size=37)[1]) == 37
    assert len(split_rows(ROWS, seed=3, valid_size=37, max_valid=30)[1]) == 30


def test_duplicate_prompts_stay_on_one_side() -> None:
    rows = [row(f"question number {i % 50}", i=i) for i in range(200)]  # each prompt 4 times
    rows += [row("  QUESTION number 7!! ", i=200), row("question, number 7", i=201)]
    for seed in range(5):
        train, valid = split_rows(rows, seed=seed, valid_fraction=0.2)
        train_keys = {prompt_key(r) for r in train}
        assert not train_keys & {prompt_key(r) for r in valid}
        sevens = {r["i"] for r in rows if r["i"] >= 200 or r["i"] % 50 == 7}
        assert len(sevens) == 6
        assert sevens <= set(ids(train)) or sevens <= set(ids(valid))


def test_normalised_prompts_count_as_the_same() -> None:
    assert prompt_key(row("Hello,   World!")) == prompt_key(row("hello world"))
    system = {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}
    developer = {
        "messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]
    }
    assert prompt_key(system) == prompt_key(developer)
    assert prompt_key(row("hello world")) != prompt_key(row("hello there world"))


def test_stratify_keeps_each_value_in_proportion() -> None:
    rows = [row(f"q {i}", label="rare" if i < 20 else "common", i=i) for i in range(400)]
    for seed in range(5):
        _, valid = split_rows(rows, seed=seed, valid_size=40, stratify="label")
        assert Counter(r["label"] for r in valid) == {"rare": 2, "common": 38}


def test_stratify_tolerates_rows_without_the_field() -> None:
    rows = [row(f"q {i}", i=i, **({"label": "a"} if i % 2 else {})) for i in range(100)]
    train, valid = split_rows(rows, seed=0, stratify="label")
    assert len(valid) == 10 and len(train) == 90


def test_split_does_not_depend_on_the_python_hash_seed() -> None:
    code = (
        "import json; from openrft.data.split import split_rows;"
        "rows=[{'messages':[{'role':'user','content':f'q {i}'}],'i':i,'l':'ab'[i%2]} "
        "for i in range(300)];"
        "print(json.dumps([r['i'] for r in split_rows(rows, seed=5, stratify='l')[1]]))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1 and len(json.loads(outputs.pop())) == 30


@pytest.mark.parametrize("valid_size", [None, 10, 30])
def test_stratify_on_a_nearly_unique_field_gives_the_size_asked_for(
    valid_size: int | None,
) -> None:
    # Prompts come in pairs and the field is unique per row: every value is too rare for a
    # validation share of its own, and a share of 1 cannot take a pair.
    rows = [row(f"q {i // 2}", id=i, i=i) for i in range(200)]
    for seed in range(3):
        train, valid = split_rows(rows, seed=seed, stratify="id", valid_size=valid_size, exact=True)
        assert len(valid) == (valid_size or 20) and len(train) + len(valid) == 200
        assert {prompt_key(r) for r in train}.isdisjoint({prompt_key(r) for r in valid})


def test_a_size_prompt_groups_cannot_add_up_to_is_refused_with_the_reason() -> None:
    from openrft.errors import InvalidRequestError

    rows = [row(f"q {i // 2}", id=i, i=i) for i in range(200)]
    with pytest.raises(InvalidRequestError) as info:
        split_rows(rows, seed=0, stratify="id", valid_size=9, exact=True)
    message = info.value.message
    assert "cannot take exactly 9 validation rows, only 8" in message
    assert "share a prompt" in message
    _, valid = split_rows(rows, seed=0, stratify="id", valid_size=9)  # the job's D4 split
    assert len(valid) == 8
