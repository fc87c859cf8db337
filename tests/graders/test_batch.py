"""grade_many: order, per-grader means, error counts, latency percentiles, progress."""

from __future__ import annotations

import math

import pytest

from openrft.graders import Sample, grade, grade_many, percentile, validate_grader
from tests.graders import examples

EXACT = examples.EXACT
CLOSE = {
    "type": "text_similarity",
    "name": "close",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "evaluation_metric": "fuzzy_match",
}
MULTI = {
    "type": "multi",
    "name": "combo",
    "graders": {"exact": EXACT, "close": CLOSE},
    "calculate_output": "(exact + close) / 2",
}


def test_results_in_row_order_with_summary() -> None:
    rows = [
        {"sample": "a", "item": {"reference": "a"}},
        ("b", {"reference": "x"}),
        {"sample": {"output_text": "c"}, "item": {"reference": "c"}},
        {"sample": "d", "item": {}},
    ]
    report = grade_many(EXACT, rows)
    assert [r.reward for r in report.results] == [1.0, 0.0, 1.0, 0.0]
    summary = report.summary()
    assert summary["rows"] == 4
    assert summary["mean_reward"] == {"exact": 0.5}
    assert summary["errored_rows"] == 1
    assert summary["errors"] == {"invalid_variable_error": 1}
    assert 0 <= summary["latency_p50_s"] <= summary["latency_p95_s"] < 1
    assert summary["token_usage"] is None


def test_multi_reports_a_mean_per_sub_grader() -> None:
    rows = [("12379", {"reference": "12379"}), ("97321", {"reference": "12379"})]
    report = grade_many(MULTI, rows)
    means = report.summary()["mean_reward"]
    assert set(means) == {"combo", "exact", "close"}
    assert means["exact"] == 0.5
    assert means["combo"] == pytest.approx((means["exact"] + means["close"]) / 2)


def test_progress_is_reported_to_the_end() -> None:
    seen: list[int] = []
    grade_many(EXACT, [("a", {"reference": "a"})] * 20_000, progress=seen.append)
    assert seen == [8192, 16384, 20_000]


def test_percentile() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0], 0.95) == pytest.approx(1.95)
    assert percentile([5.0], 0.95) == 5.0
    assert math.isnan(percentile([], 0.5))


def test_empty_batch() -> None:
    report = grade_many(EXACT, [])
    assert report.count == 0 and math.isnan(report.mean())


JSON_CHECK = {
    "type": "string_check",
    "name": "json",
    "input": "{{sample.output_json.answer}}",
    "reference": "{{item.meta.labels[0]}}",
    "operation": "ilike",
}
MIXED_ROWS = [
    ("12379", {"reference": "12379", "meta": {"labels": ["x"]}}),
    ("97321", {"reference": "12379", "meta": {"labels": ["x"]}}),
    ("", {"reference": "12379"}),
    ("", {"reference": ""}),
    ("1237", {"reference": 12379}),
    ("abc", {}),
    ("abc", {"reference": None}),
    ('{"answer": "Yes X"}', {"reference": "yes", "meta": {"labels": ["x"]}}),
    ('{"answer": "no"}', {"reference": "no", "meta": {"labels": []}}),
    (
        {"output_text": "z", "output_json": {"answer": "x"}},
        {"reference": "z", "meta": {"labels": ["X"]}},
    ),
    ("not json", {"reference": "n", "meta": {"labels": ["x"]}}),
    ("!!", {"reference": "!!"}),
    ("!!", {"reference": "??"}),
    ("Yes!", {"reference": "yes"}),
]


@pytest.mark.parametrize(
    "spec",
    [EXACT, CLOSE, JSON_CHECK, MULTI, {**CLOSE, "evaluation_metric": "bleu"},
     {**CLOSE, "evaluation_metric": "rouge_2"},
     {"type": "multi", "graders": {"a": JSON_CHECK, "b": CLOSE}, "calculate_output": "a / b"}],
)  # fmt: skip
def test_batch_path_equals_the_per_row_engine(spec: dict[str, object]) -> None:
    grader = validate_grader(spec)
    batch = grade_many(grader, MIXED_ROWS).results
    single = [grade(grader, Sample.coerce(s), item) for s, item in MIXED_ROWS]
    assert [r.reward for r in batch] == [r.reward for r in single]
    assert [r.errors for r in batch] == [r.errors for r in single]
    assert [r.sub_rewards for r in batch] == [r.sub_rewards for r in single]
    assert any(r.errors for r in batch)


def test_batch_flags_samples_that_break_their_response_format() -> None:
    rows = [(Sample.from_text("plain", json_expected=True), {"reference": "plain"}),
            (Sample.from_text('{"a": 1}', json_expected=True), {"reference": '{"a": 1}'})]  # fmt: skip
    results = grade_many(EXACT, rows).results
    assert results[0].errors == {"sample_parse_error": True} and results[0].reward == 0.0
    assert results[1].ok and results[1].reward == 1.0


@pytest.mark.parametrize("spec", [CLOSE, MULTI])
def test_chunks_graded_side_by_side_keep_row_order_and_failures(spec: dict[str, object]) -> None:
    """Past one chunk, fuzzy_match chunks are graded on two threads; rows and flags must
    land where they came from."""
    grader = validate_grader(spec)
    rows = [MIXED_ROWS[row % len(MIXED_ROWS)] for row in range(20_000)]
    report = grade_many(grader, rows)
    expected = [grade(grader, Sample.coerce(s), item) for s, item in MIXED_ROWS]
    assert [r.reward for r in report.results] == [
        expected[row % len(expected)].reward for row in range(len(rows))
    ]
    failed = {row for row, r in enumerate(report.results) if r.errors}
    assert failed == {row for row in range(len(rows)) if expected[row % len(expected)].errors}
    assert report.summary()["errored_rows"] == len(failed) > 0


def test_results_are_built_once_and_summaries_read_the_columns() -> None:
    report = grade_many(MULTI, [("12379", {"reference": "12379"}), ("1", {})])
    results = report.results
    assert results.rewards[0] == 1.0 and set(results.failures) == {1}
    assert report.error_counts() == {"invalid_variable_error": 1}
    assert report.mean("exact") == 0.5
    first = results[0]
    assert first is results[0] and first is next(iter(results))
    assert first.sub_rewards == {"exact": 1.0, "close": 1.0}
    assert first.execution_time == results[1].execution_time > 0
    assert results[1].errors == {"invalid_variable_error": True}


def test_a_metric_that_fails_on_every_row_flags_each_row_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from openrft.graders import text_similarity

    def unavailable(*_: object) -> list[float]:
        raise text_similarity.MetricUnavailableError("meteor needs WordNet")

    monkeypatch.setattr(text_similarity, "score_many", unavailable)
    report = grade_many(
        {**CLOSE, "evaluation_metric": "meteor"}, [("a b", {"reference": "a c"})] * 50
    )
    assert report.error_counts() == {"other_error": 50}
    assert {r.detail for r in report.results} == {"meteor needs WordNet"}
    assert len({id(r) for r in report.results}) == 50  # one result object per row
    assert sum("meteor needs WordNet" in record.message for record in caplog.records) == 1
