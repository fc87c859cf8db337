"""`openrft data lint` as a library: findings, severities and statistics."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from openrft.data.checks import Split
from openrft.data.dedup import near_groups
from openrft.data.lint import lint_files, lint_splits

GRADER = {
    "type": "string_check",
    "name": "label",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.label }}",
    "operation": "eq",
}
WORDS = [f"word{i}" for i in range(3000)]


def prompt(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def rows(count: int, seed: int = 0, labels: str = "abc", **extra: Any) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "messages": [
                {"role": "developer", "content": "Classify the ticket. " * 20},
                {"role": "user", "content": prompt(rng)},
            ],
            "label": labels[i % len(labels)],
            **extra,
        }
        for i in range(count)
    ]


def write(path: Path, data: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in data) + tail, encoding="utf-8")
    return path


def codes(report: Any) -> dict[str, str]:
    return {finding.code: finding.severity for finding in report.findings}


def test_clean_data_has_no_errors_or_warnings(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows(60, tags=["edge"]))
    valid = write(tmp_path / "v.jsonl", rows(15, seed=1))
    report = lint_files(train, valid, GRADER)
    assert report.count("error") == 0 and report.count("warning") == 0, report.findings
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True
    assert [s["rows"] for s in data["splits"]] == [60, 15]
    assert data["balance"][0]["path"] == "item.label"
    assert data["balance"][0]["counts"]["train"] == {"a": 20, "b": 20, "c": 20}


def test_parse_and_row_errors_are_error_findings(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows(20), '{"messages": []}\n{oops\n')
    report = lint_files(train)
    errors = [f for f in report.findings if f.code == "invalid_row"]
    assert [f.locations[0].line for f in errors] == [21, 22]
    assert report.has_errors and report.splits[0].bad_rows == 2


def test_exact_and_normalised_duplicates_inside_a_split_warn(tmp_path: Path) -> None:
    data = rows(30)
    data[5]["messages"] = data[2]["messages"]
    data[9]["messages"] = json.loads(json.dumps(data[3]["messages"]))
    data[9]["messages"][1]["content"] = data[3]["messages"][1]["content"].upper() + " !"
    report = lint_files(write(tmp_path / "t.jsonl", data))
    [finding] = [f for f in report.findings if f.code == "duplicate_prompt"]
    assert finding.severity == "warning" and "2 duplicate-prompt groups (4 rows)" in finding.message
    assert {loc.line for loc in finding.locations} == {3, 6, 4, 10}


def test_train_valid_overlap_is_an_error(tmp_path: Path) -> None:
    data = rows(40)
    train = write(tmp_path / "t.jsonl", data[:30])
    valid = write(tmp_path / "v.jsonl", data[25:])
    report = lint_files(train, valid)
    assert codes(report)["leakage"] == "error"
    leak = next(f for f in report.findings if f.code == "leakage")
    assert "5 train/valid duplicate-prompt groups" in leak.message


def test_near_duplicates_across_splits_warn(tmp_path: Path) -> None:
    data = rows(40)
    near = json.loads(json.dumps(data[3]))
    words = near["messages"][1]["content"].split()
    words[10] = "changed"
    near["messages"][1]["content"] = " ".join(words) + "!"
    report = lint_files(write(tmp_path / "t.jsonl", data), write(tmp_path / "v.jsonl", [near]))
    assert codes(report).get("near_leakage") == "warning"
    assert "leakage" not in codes(report)


def test_shared_developer_prompt_does_not_make_rows_near_duplicates() -> None:
    data = rows(50)
    report = lint_splits([Split("train", list(enumerate(data, 1)))])
    assert "near_duplicate" not in codes(report)


def test_class_imbalance_rare_and_missing_classes_warn(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows(100, labels="a" * 35 + "b" * 4 + "c"))
    valid = write(tmp_path / "v.jsonl", rows(10, seed=1, labels="a"))
    found = codes(lint_files(train, valid, GRADER))
    assert found["class_imbalance"] == "warning"
    assert found["rare_class"] == "warning"
    assert found["class_missing_in_valid"] == "warning"


def test_free_text_reference_gets_no_class_balance(tmp_path: Path) -> None:
    data = rows(30)
    for index, r in enumerate(data):
        r["label"] = f"answer {index}"
    report = lint_files(write(tmp_path / "t.jsonl", data), grader=GRADER)
    assert report.balance == [] and "class_imbalance" not in codes(report)


def test_template_failures_are_errors_naming_rows(tmp_path: Path) -> None:
    data = rows(20)
    del data[4]["label"], data[11]["label"]
    report = lint_files(write(tmp_path / "t.jsonl", data), grader=GRADER)
    [finding] = [f for f in report.findings if f.code == "template_error"]
    assert finding.severity == "error"
    assert "grader.reference" in finding.message and "lines 5, 12" in finding.message


def test_split_sizes_against_limits(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows(12))
    valid = write(tmp_path / "v.jsonl", rows(6, seed=1))
    report = lint_files(train, valid, max_train=10, max_valid=5)
    messages = [f.message for f in report.findings if f.code == "too_many_rows"]
    assert len(messages) == 2
    assert "more than the 10 allowed in a training file" in messages[0]
    assert "more than the 5 allowed in a validation file" in messages[1]


def test_small_or_missing_splits(tmp_path: Path) -> None:
    report = lint_files(write(tmp_path / "t.jsonl", rows(5)))
    assert codes(report)["few_rows"] == "warning"
    assert codes(report)["no_validation_file"] == "info"
    empty = lint_files(write(tmp_path / "e.jsonl", []))
    assert codes(empty)["empty_split"] == "error"


def test_prompt_lengths_and_tag_shares(tmp_path: Path) -> None:
    data = rows(20)
    for index, r in enumerate(data):
        r["messages"] = [{"role": "user", "content": "x" * (index + 1)}]
        r["tags"] = ["edge"] if index < 5 else (["refusal", "edge"] if index < 7 else [])
    data[0]["tags"] = "edge"
    report = lint_files(write(tmp_path / "t.jsonl", data))
    stats = report.splits[0]
    assert stats.prompt_chars == {"min": 1, "p50": 11, "p95": 19, "max": 20}
    assert stats.tag_shares == {"edge": 0.3, "refusal": 0.1}
    assert codes(report)["malformed_tags"] == "warning"
    untagged = lint_files(write(tmp_path / "u.jsonl", rows(20)))
    assert codes(untagged)["no_edge_cases"] == "info"


def test_near_groups_finds_edits_not_strangers() -> None:
    rng = random.Random(3)
    texts = [prompt(rng, 40) for _ in range(300)]
    texts[10] = texts[2].replace(texts[2].split()[20], "other") + "?"
    texts[20], texts[21], texts[22] = "hi", "Hi!", ""
    assert near_groups(texts) == [[2, 10], [20, 21]]


def test_lint_stays_fast_on_50000_rows() -> None:
    data = rows(50_000)
    started = time.perf_counter()
    report = lint_splits([Split("train", list(enumerate(data, 1)))], GRADER)
    elapsed = time.perf_counter() - started
    assert report.splits[0].rows == 50_000
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_bad_rows_are_all_counted_but_only_some_listed(tmp_path: Path) -> None:
    train = write(tmp_path / "t.jsonl", rows(12), "{oops\n" * 30)
    report = lint_files(train)
    assert report.splits[0].bad_rows == 30
    listed = [f for f in report.findings if f.code == "invalid_row"]
    assert len(listed) == 21 and "10 more bad lines" in listed[-1].message
