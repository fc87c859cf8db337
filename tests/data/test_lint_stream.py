"""`lint_files` reads each file once and keeps hashes, not rows (openrft.data.lint): its report
equals the one `lint_splits` gives over every parsed row, and its memory per row stays under
what the rows themselves take."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from openrft.data import lint
from openrft.data.checks import SHOWN, Split
from openrft.data.dedup import ExactIndex, NearIndex, exact_groups, near_groups
from openrft.data.lint import lint_files, lint_splits
from openrft.data.prompts import prompt_key
from openrft.data.report import LintReport, Location, SplitStats
from openrft.data.validate import scan_file

GRADER = {"type": "multi", "calculate_output": "label + said",
          "graders": {"label": {"type": "string_check", "name": "label",
                                "input": "{{ sample.output_text }}",
                                "reference": "{{ item.label }}", "operation": "eq"},
                      "said": {"type": "string_check", "name": "said",
                               "input": "{{ item.messages[0].content }}",
                               "reference": "{{ item.answer }}", "operation": "like"}}}  # fmt: skip
WORDS = [f"w{i}" for i in range(400)]


def row(rng: random.Random, text: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Label it."},
                         {"role": "user", "content": text}], "label": label, **extra}  # fmt: skip


def dataset(rng: random.Random, count: int, labels: str) -> list[str]:
    """JSONL lines: duplicates, near duplicates, malformed tags, rows without `answer`, an
    imbalanced label, and bad lines (some not JSON, some breaking the row rules)."""
    lines: list[str] = []
    texts: list[str] = []
    for number in range(count):
        if texts and number % 9 == 0:
            text = rng.choice(texts).upper() + "!"  # the same prompt, normalised
        elif texts and number % 11 == 0:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = "changed"
            text = " ".join(words)  # a near duplicate
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(25))
        texts.append(text)
        label = labels[0] if number % 10 else rng.choice(labels)
        extra: dict[str, Any] = {"answer": text[:5]} if number % 13 else {}
        if number % 17 == 0:
            extra["tags"] = "edge" if number % 2 else ["edge"]
        lines.append(json.dumps(row(rng, text, label, **extra)))
        if number % 23 == 0:
            lines.append("{not json" if number % 2 else json.dumps({"messages": []}))
    return lines


def lint_whole(
    train: Path, valid: Path | None, grader: Any, max_train: int, max_valid: int
) -> LintReport:
    """What `lint_files` did before it streamed: every row parsed, then `lint_splits`."""
    report = LintReport()
    splits, paths = [], {}
    for name, path in (("train", train), ("valid", valid)):
        if path is None:
            continue
        rows, errors = scan_file(path, max_errors=10**9)
        for error in errors[:SHOWN]:
            where = [Location(name, error.line)] if error.line else []
            report.add("error", "invalid_row", error.message, where)
        if len(errors) > SHOWN:
            more = len(errors) - SHOWN
            report.add("error", "invalid_row", f"{path}: {more} more bad lines not listed")
        report.splits.append(SplitStats(name, str(path), len(rows), len(errors), 0))
        splits.append(Split(name, rows))
        paths[name] = str(path)
    limits = {"train": max_train, "valid": max_valid}
    return lint_splits(splits, grader, report=report, paths=paths, limits=limits)


@pytest.mark.parametrize(("labels", "with_valid", "grader"), [
    ("abbbbbbbbbbc", True, GRADER),
    ("".join(map(chr, range(65, 95))), True, GRADER),  # too many labels to be classes
    ("ab", False, None),
])  # fmt: skip
def test_streamed_lint_equals_linting_parsed_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, labels: str, with_valid: bool, grader: Any
) -> None:
    monkeypatch.setattr(lint, "_TEXTS_PER_BATCH", 7)  # the near index fed in many batches
    rng = random.Random(len(labels))
    lines = dataset(rng, 700, labels)
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")
    valid = None
    if with_valid:
        valid = tmp_path / "valid.jsonl"
        valid.write_text("\n".join(lines[590:]) + "\n", encoding="utf-8")  # leaks 10 rows
    streamed = lint_files(train, valid, grader, max_train=500, max_valid=1000)
    whole = lint_whole(train, valid, grader, 500, 1000)
    assert streamed.to_dict() == whole.to_dict()
    codes = {finding.code for finding in streamed.findings}
    expected = {"invalid_row", "too_many_rows", "malformed_tags", "duplicate_prompt",
                "near_duplicate"}  # fmt: skip
    if with_valid:
        expected |= {"leakage", "template_error"}
    assert expected <= codes, codes
    assert bool(streamed.balance) == (len(labels) < 20 and grader is not None)


def test_the_indexes_find_the_batch_groups() -> None:
    rng = random.Random(5)
    texts = [" ".join(rng.choice(WORDS[:40]) for _ in range(6)) for _ in range(300)]
    texts += [*texts[:20], "", "one", "one two"]
    near = NearIndex()
    for start in range(0, len(texts), 16):
        near.add(texts[start : start + 16])
    assert near.groups(0.5) == near_groups(texts, threshold=0.5) != []
    rows = [{"messages": [{"role": "user", "content": text}]} for text in texts]
    keys = [prompt_key(r) for r in rows]
    exact = ExactIndex()
    for key in keys:
        exact.add(bytes.fromhex(key))
    assert exact.groups() == exact_groups(keys) != []


def test_lint_holds_less_per_row_than_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak traced memory grows by less than half a row's own size per extra row: rows are
    not kept (before, each parsed row stayed: over 3 KiB each here). Prompts wait for the
    near-duplicate index in batches (64 here), a bound of its own."""
    monkeypatch.setattr(lint, "_TEXTS_PER_BATCH", 64)
    rng = random.Random(1)
    words = [f"word{i}" for i in range(3000)]
    lint_files(_write(tmp_path / "warm.jsonl", rng, words, 50))  # imports, caches
    peaks = []
    for count in (500, 2000):
        path = _write(tmp_path / f"rows-{count}.jsonl", rng, words, count)
        tracemalloc.start()
        lint_files(path, max_train=10**6)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    per_row = (peaks[1] - peaks[0]) / 1500
    assert per_row < 900 < path.stat().st_size / 2000 / 2, per_row


def _write(path: Path, rng: random.Random, words: list[str], count: int) -> Path:
    """Rows of 200 words each (1.8 KB a line)."""
    text = "".join(json.dumps(row(rng, " ".join(rng.choice(words) for _ in range(200)), "a"))
                   + "\n" for _ in range(count))  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path
