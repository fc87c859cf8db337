"""The engine: the exact graders/run response, and every error flag these graders can raise."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.fine_tuning.alpha import GraderRunResponse

from openrft.errors import GraderValidationError
from openrft.graders import (
    ERROR_DETAILS,
    ERROR_FLAGS,
    MultiGrader,
    Sample,
    grade,
    run_grader,
    validate_grader,
)
from openrft.graders import text_similarity as ts
from tests.graders import examples

EXACT = examples.EXACT
FUZZY = {
    "type": "text_similarity",
    "name": "fuzzy",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "evaluation_metric": "fuzzy_match",
}


def _flags(response: dict[str, Any]) -> set[str]:
    errors = response["metadata"]["errors"]
    return {flag for flag in ERROR_FLAGS if errors[flag]}


def test_response_has_exactly_openais_shape() -> None:
    response = run_grader(EXACT, "yes", {"reference": "yes"})
    parsed = GraderRunResponse.model_validate(response)
    assert parsed.reward == 1.0
    assert set(response) == {
        "reward",
        "metadata",
        "sub_rewards",
        "model_grader_token_usage_per_model",
    }
    metadata = response["metadata"]
    assert set(metadata) == {
        "name", "type", "errors", "execution_time", "scores", "token_usage", "sampled_model_name",
    }  # fmt: skip
    assert list(metadata["errors"]) == [*ERROR_FLAGS, *ERROR_DETAILS]
    assert len(metadata["errors"]) == 14
    assert metadata["name"] == "exact" and metadata["type"] == "string_check"
    assert metadata["token_usage"] is None and metadata["sampled_model_name"] is None
    assert 0 < metadata["execution_time"] < 1
    assert response["sub_rewards"] == {} and metadata["scores"] == {}


def test_unnamed_grader_reports_its_type_as_name() -> None:
    unnamed = {k: v for k, v in EXACT.items() if k != "name"}
    assert run_grader(unnamed, "a", {"reference": "a"})["metadata"]["name"] == "string_check"


def test_item_defaults_to_empty_and_missing_keys_are_invalid_variable_errors() -> None:
    response = run_grader(EXACT, "yes")
    assert response["reward"] == 0.0
    assert _flags(response) == {"invalid_variable_error"}
    GraderRunResponse.model_validate(response)


def test_unknown_namespace_is_an_invalid_variable_error() -> None:
    grader = {**EXACT, "reference": "{{ row.reference }}"}
    assert _flags(run_grader(grader, "x", {"reference": "x"})) == {"invalid_variable_error"}


def test_output_json_of_plain_text_is_a_sample_parse_error() -> None:
    response = run_grader(examples.STRING_CHECK, "not json", {"compliant": "yes"})
    assert _flags(response) == {"sample_parse_error"} and response["reward"] == 0.0
    ok = run_grader(examples.STRING_CHECK, '{"compliant": "yes"}', {"compliant": "yes"})
    assert ok["reward"] == 1.0 and not _flags(ok)


def test_a_sample_that_breaks_its_response_format_fails_every_grader() -> None:
    spec = validate_grader(EXACT)
    result = grade(spec, Sample.from_text("plain", json_expected=True), {"reference": "plain"})
    assert result.reward == 0.0 and result.errors == {"sample_parse_error": True}
    fine = grade(spec, Sample.from_text('{"a": 1}', json_expected=True), {"reference": '{"a": 1}'})
    assert fine.reward == 1.0 and fine.ok


def test_multi_combines_sub_rewards_by_map_key() -> None:
    grader = {"type": "multi", "name": "combo", "graders": {"exact": EXACT, "close": FUZZY},
              "calculate_output": "0.25 * exact + 0.75 * close"}  # fmt: skip
    response = run_grader(grader, "12379", {"reference": "12379"})
    assert response["reward"] == 1.0
    assert response["sub_rewards"] == {"exact": 1.0, "close": 1.0}
    assert response["metadata"]["scores"] == {"exact": 1.0, "close": 1.0}
    GraderRunResponse.model_validate(response)
    partial = run_grader(grader, "12397", {"reference": "12379"})
    assert partial["sub_rewards"]["exact"] == 0.0
    assert partial["reward"] == pytest.approx(0.75 * partial["sub_rewards"]["close"])


def test_failed_sub_grader_contributes_zero_and_its_flags_propagate() -> None:
    broken = {**FUZZY, "reference": "{{item.nope}}"}
    grader = {"type": "multi", "graders": {"exact": EXACT, "broken": broken},
              "calculate_output": "exact + 1 + broken"}  # fmt: skip
    response = run_grader(grader, "a", {"reference": "a"})
    assert response["reward"] == 2.0
    assert response["sub_rewards"] == {"exact": 1.0, "broken": 0.0}
    assert _flags(response) == {"invalid_variable_error"}


def test_formula_math_error_is_other_error() -> None:
    grader = {"type": "multi", "graders": {"exact": EXACT}, "calculate_output": "1 / exact"}
    response = run_grader(grader, "a", {"reference": "b"})
    assert response["reward"] == 0.0 and _flags(response) == {"other_error"}


def test_formula_parse_error_at_run_time() -> None:
    # Validation rejects a bad formula; a grader built without it still fails as data, not a crash.
    spec = MultiGrader.model_validate(
        {"type": "multi", "graders": {"exact": EXACT}, "calculate_output": "exact +"}
    )
    result = grade(spec, Sample.from_text("a"), {"reference": "a"})
    assert result.reward == 0.0 and result.errors == {"formula_parse_error": True}
    assert result.detail is not None and "end of formula" in result.detail


def test_cosine_without_an_endpoint_is_other_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRFT_EMBEDDINGS_BASE_URL", raising=False)
    grader = {**FUZZY, "evaluation_metric": "cosine"}
    response = run_grader(grader, "some text", {"reference": "other text"})
    assert _flags(response) == {"other_error"}
    assert run_grader(grader, "same", {"reference": "same"})["reward"] == 1.0


def test_an_unexpected_exception_in_a_grader_is_other_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(text: str, reference: str) -> float:
        raise RuntimeError("library bug")

    monkeypatch.setattr(ts, "scorer", lambda metric: explode)
    response = run_grader(FUZZY, "a", {"reference": "b"})
    assert response["reward"] == 0.0 and _flags(response) == {"other_error"}


def test_meteor_without_wordnet_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from nltk.corpus import wordnet

    def missing() -> None:
        raise LookupError("Resource wordnet not found")

    ts._meteor.cache_clear()
    monkeypatch.setattr(wordnet, "ensure_loaded", missing)
    grader = {**FUZZY, "evaluation_metric": "meteor"}
    spec = validate_grader(grader)
    result = grade(spec, Sample.from_text("a b"), {"reference": "a c"})
    ts._meteor.cache_clear()
    assert result.errors == {"other_error": True}
    assert result.detail is not None and "make venv" in result.detail


def test_an_invalid_grader_is_the_only_exception() -> None:
    with pytest.raises(GraderValidationError):
        run_grader({**EXACT, "operation": "contains"}, "a", {})


def test_pass_threshold_never_changes_the_reward() -> None:
    plain = run_grader(FUZZY, "abcd", {"reference": "abce"})["reward"]
    strict = run_grader({**FUZZY, "pass_threshold": 0.99}, "abcd", {"reference": "abce"})["reward"]
    assert plain == strict and 0 < plain < 1
