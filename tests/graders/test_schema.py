"""Grader JSON validation: every real-world shape parses; every bad one names its JSON path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from openrft.errors import GraderValidationError
from openrft.graders import (
    LabelModelGrader,
    MultiGrader,
    ScoreModelGrader,
    iter_templates,
    validate_grader,
)
from tests.graders import examples


@pytest.mark.parametrize("name", sorted(examples.ALL))
def test_real_world_graders_parse(name: str) -> None:
    grader = validate_grader(examples.ALL[name])
    assert grader.type == examples.ALL[name]["type"]


def test_neq_is_an_alias_of_ne_and_echoed_as_ne() -> None:
    grader = validate_grader({**examples.STRING_CHECK, "operation": "neq"})
    assert grader.model_dump(exclude_none=True)["operation"] == "ne"


def test_max_tokens_is_an_alias_of_max_completions_tokens() -> None:
    grader = validate_grader(examples.LABEL_MODEL_GUIDE)
    assert isinstance(grader, LabelModelGrader)
    assert grader.sampling_params is not None
    assert grader.sampling_params.max_completions_tokens == 100


def test_score_model_range_defaults_to_zero_one() -> None:
    data = copy.deepcopy(examples.SCORE_MODEL_COOKBOOK)
    del data["range"]
    grader = validate_grader(data)
    assert isinstance(grader, ScoreModelGrader)
    assert grader.bounds == (0.0, 1.0)


def test_multi_keeps_map_keys_in_order() -> None:
    grader = validate_grader(examples.MULTI_SECURITY)
    assert isinstance(grader, MultiGrader)
    assert list(grader.graders) == ["compliant", "explanation"]


def _error(data: Any, **kwargs: Any) -> GraderValidationError:
    with pytest.raises(GraderValidationError) as info:
        validate_grader(data, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("data", "param", "words"),
    [
        ({**examples.STRING_CHECK, "operation": "contains"}, "grader.operation", "'eq'"),
        ({**examples.STRING_CHECK, "extra": 1}, "grader.extra", "Unrecognized field"),
        ({**{k: v for k, v in examples.STRING_CHECK.items() if k != "reference"}, "refrence": "x"}, "grader.refrence", "Unrecognized field 'grader.refrence' (did you mean 'reference'?); missing required field 'grader.reference'"),
        ({**examples.STRING_CHECK, "pass_treshold": 1}, "grader.pass_treshold", "(did you mean 'pass_threshold'?)"),
        ({**examples.MULTI_SECURITY, "graders": {"a": {**{k: v for k, v in examples.STRING_CHECK.items() if k != "operation"}, "operaton": "eq"}}, "calculate_output": "a"}, "grader.graders.a.operaton", "did you mean 'operation'?"),
        ({k: v for k, v in examples.STRING_CHECK.items() if k != "reference"}, "grader.reference", "Missing"),
        ({"type": "regex_check"}, "grader.type", "string_check"),
        ({"name": "x"}, "grader.type", "Invalid grader type"),
        ({**examples.TEXT_SIMILARITY, "evaluation_metric": "rouge_6"}, "grader.evaluation_metric", "rouge_5"),
        ({**examples.SCORE_MODEL_COOKBOOK, "range": [1, 0]}, "grader.range", "min < max"),
        ({**examples.SCORE_MODEL_COOKBOOK, "sampling_params": {"temp": 1}}, "grader.sampling_params.temp", "Unrecognized"),
        ({**examples.LABEL_MODEL_GUIDE, "passing_labels": ["great"]}, "grader", "not in labels"),
        ({**examples.LABEL_MODEL_GUIDE, "labels": []}, "grader.labels", "at least 1"),
        ({**examples.MULTI_SECURITY, "graders": [examples.STRING_CHECK]}, "grader.graders", "got an array"),
        ({**examples.MULTI_SECURITY, "graders": examples.STRING_CHECK}, "grader.graders", "single grader"),
        ({**examples.MULTI_SECURITY, "graders": {}}, "grader.graders", "at least one"),
        ({**examples.MULTI_SECURITY, "calculate_output": "compliant +"}, "grader.calculate_output", "end of formula"),
        ({**examples.MULTI_SECURITY, "calculate_output": "mean(compliant)"}, "grader.calculate_output", "unknown function"),
        ({**examples.MULTI_SECURITY, "calculate_output": "compliant + typo"}, "grader.calculate_output", "unknown name 'typo'"),
        ({**examples.MULTI_SECURITY, "graders": {"bad-key": examples.STRING_CHECK}, "calculate_output": "1"}, "grader.graders.bad-key", "identifiers"),
        ({**examples.MULTI_SECURITY, "graders": {"inner": examples.MULTI_SECURITY}, "calculate_output": "inner"}, "grader.graders.inner.type", "Invalid grader type"),
        ({**examples.MULTI_SECURITY, "graders": {"a": {**examples.STRING_CHECK, "operation": "x"}}, "calculate_output": "a"}, "grader.graders.a.operation", "'eq'"),
        ({"type": "python", "source": "def grade(sample):\n    return 1\n"}, "grader.source", "two positional"),
        ({"type": "python", "source": "def grade(sample, item:\n"}, "grader.source", "does not compile"),
        ({"type": "python", "source": "x = 1\n"}, "grader.source", "define a function grade"),
        ({"type": "python", "source": "#" * (256 * 1024 + 1)}, "grader.source", "256 KiB"),
        ({**examples.SCORE_MODEL_COOKBOOK, "input": [{"role": "user", "content": [{"type": "input_text", "txt": "x"}]}]}, "grader.input[0].content[0]", "text"),
        ({**examples.SCORE_MODEL_COOKBOOK, "input": [{"role": "judge", "content": "x"}]}, "grader.input[0].role", "'user'"),
        ("not an object", "grader", "Invalid"),
    ],
)  # fmt: skip
def test_bad_graders_name_their_json_path(data: Any, param: str, words: str) -> None:
    error = _error(data)
    assert error.param is not None and error.param.startswith(param), (error.param, error.message)
    assert words in error.message
    assert error.status == 400
    assert error.to_body()["error"]["param"] == error.param


def test_python_grade_bound_by_assignment_is_accepted_for_a_runtime_check() -> None:
    validate_grader({"type": "python", "source": "def my_fn(s, i):\n    return 1\ngrade = my_fn\n"})


def test_python_source_with_keyword_only_defaults_is_fine() -> None:
    validate_grader(
        {"type": "python", "source": "def grade(sample, item, *, k=1):\n    return k\n"}
    )


def test_training_rules_reject_top_level_label_model_and_cosine() -> None:
    assert "label_model" in _error(examples.LABEL_MODEL_GUIDE, for_training=True).message
    cosine = {**examples.TEXT_SIMILARITY, "evaluation_metric": "cosine"}
    assert _error(cosine, for_training=True).param == "grader.evaluation_metric"
    nested = {
        **examples.MULTI_SECURITY,
        "graders": {"compliant": examples.STRING_CHECK, "explanation": cosine},
    }
    assert _error(nested, for_training=True).param == "grader.graders.explanation.evaluation_metric"
    validate_grader(cosine)  # fine outside training


def test_iter_templates_walks_every_templated_string() -> None:
    found = dict(iter_templates(validate_grader(examples.SCORE_MODEL_MULTIMODAL)))
    assert found == {
        "grader.input[0].content[0].text": "Does the answer describe the image? {{sample.output_text}}",
        "grader.input[0].content[1].image_url": "{{item.image_url}}",
        "grader.input[0].content[2].input_audio.data": "{{item.audio_clip_b64}}",
    }
    multi = dict(iter_templates(validate_grader(examples.MULTI_SECURITY)))
    assert multi["grader.graders.compliant.reference"] == "{{ item.compliant }}"
    assert len(multi) == 4


def test_param_prefixes_every_path() -> None:
    where = "method.reinforcement.grader"
    bad_type = _error({**examples.STRING_CHECK, "operation": "x"}, param=where)
    assert bad_type.param == f"{where}.operation" and f"'{where}.operation'" in bad_type.message
    bad_formula = _error({**examples.MULTI_SECURITY, "calculate_output": "x +"}, param=where)
    assert bad_formula.param == f"{where}.calculate_output"
    bad_source = _error({"type": "python", "source": "x = 1\n"}, param=where)
    assert bad_source.param == f"{where}.source"
    assert (
        _error(examples.LABEL_MODEL_GUIDE, param=where, for_training=True).param == f"{where}.type"
    )


ONE_OF_EACH = {
    "string_check": examples.STRING_CHECK, "text_similarity": examples.TEXT_SIMILARITY,
    "score_model": examples.SCORE_MODEL_COOKBOOK, "label_model": examples.LABEL_MODEL_GUIDE,
    "python": examples.PYTHON_COOKBOOK, "multi": examples.MULTI_SECURITY,
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(ONE_OF_EACH))
def test_image_tag_is_accepted_and_recorded_on_every_grader(kind: str) -> None:
    # G10: Azure's published score_model sample sends one; only python graders run in an image.
    data = {**ONE_OF_EACH[kind], "image_tag": "2025-05-08"}
    assert validate_grader(data).model_dump(exclude_none=True)["image_tag"] == "2025-05-08"
    sub = {**examples.STRING_CHECK, "image_tag": "2025-05-08"}
    multi = {**examples.MULTI_SECURITY, "graders": {"compliant": sub, "explanation": data}}
    if kind != "multi":  # no nested multi
        dumped = validate_grader(multi).model_dump(exclude_none=True)["graders"]
        assert (
            dumped["compliant"]["image_tag"] == dumped["explanation"]["image_tag"] == "2025-05-08"
        )


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({**examples.STRING_CHECK, "input": "{{ sample.output_json.__class__ }}"}, "grader.input"),
        ({**examples.TEXT_SIMILARITY, "reference": "x {{item.__dict__}}"}, "grader.reference"),
        ({**examples.SCORE_MODEL_COOKBOOK, "input": [{"role": "user", "content": "{{ item.a.__globals__ }}"}]},
         "grader.input[0].content"),
        ({**examples.MULTI_SECURITY, "graders": {"compliant": examples.STRING_CHECK, "explanation": {
            **examples.STRING_CHECK, "reference": "{{ sample.output_tools[0].__init__ }}"}}},
         "grader.graders.explanation.reference"),
    ],
)  # fmt: skip
def test_double_underscore_keys_are_rejected_at_validation(data: Any, param: str) -> None:
    error = _error(data)
    assert error.param == param and "never resolve" in error.message and error.status == 400
