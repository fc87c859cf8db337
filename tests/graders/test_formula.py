"""The multi-grader formula language (decision G8): grammar, precedence, every error path, and
the bounds on nesting and length."""

from __future__ import annotations

import math

import pytest

from openrft.errors import GraderValidationError
from openrft.graders import MultiGrader, Sample, grade, grade_many, validate_grader
from openrft.graders.formula import (
    MAX_DEPTH,
    MAX_LENGTH,
    FormulaError,
    FormulaMathError,
    compile_formula,
)

ENV = {"a": 0.5, "b": 0.25, "c": 2.0, "zero": 0.0, "neg": -4.0}


EVALUATES = [
        ("a", 0.5),
        ("0.5 * a + 0.5 * b", 0.375),
        ("0.5 *a+0.5*b", 0.375),
        ("(a + b) / 2", 0.375),
        ("a + b * c", 1.0),
        ("(a + b) * c", 1.5),
        ("a - b - c", -1.75),
        ("c / c / c", 0.5),
        ("c ^ 3", 8.0),
        ("c ^ 3 ^ 2", 512.0),
        ("-c ^ 2", -4.0),
        ("(-c) ^ 2", 4.0),
        ("c ^ -1", 0.5),
        ("--a", 0.5),
        ("+a", 0.5),
        ("min(a)", 0.5),
        ("min(a, b, c)", 0.25),
        ("max(a, b, c)", 2.0),
        ("max(min(a, b), 0.3)", 0.3),
        ("abs(neg)", 4.0),
        ("floor(c + 0.7)", 2.0),
        ("ceil(a)", 1.0),
        ("exp(zero)", 1.0),
        ("sqrt(c * c)", 2.0),
        ("log(exp(c))", 2.0),
        ("1e-1 * c", 0.2),
        (".5 + 1.", 1.5),
        ("  a  ", 0.5),
        ("2 * 3", 6.0),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), EVALUATES)
def test_evaluates(text: str, expected: float) -> None:
    assert compile_formula(text, set(ENV))(ENV) == pytest.approx(expected)


ROWS = [ENV, {"a": 0.9, "b": 0.1, "c": 3.5, "zero": 0.0, "neg": -0.3},
        {"a": 0.0, "b": 1.0, "c": 0.75, "zero": 0.0, "neg": -1e-9}]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), EVALUATES)
def test_columns_equal_the_row_by_row_values_exactly(text: str, expected: float) -> None:
    formula = compile_formula(text, set(ENV))
    columns = {name: [row[name] for row in ROWS] for name in ENV}
    values = formula.columns(columns, len(ROWS))
    assert values == [formula(row) for row in ROWS]
    assert all(type(value) is float for value in values)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a +", "end of formula"),
        ("(a + b", "expected ')'"),
        ("a + b)", "unexpected ')'"),
        ("a b", "unexpected 'b'"),
        ("a ** b", "unexpected '*'"),
        ("a % b", "unexpected character '%'"),
        ("d + a", "unknown name 'd'"),
        ("mean(a, b)", "unknown function 'mean'"),
        ("abs(a, b)", "takes one argument"),
        ("min()", "unexpected ')'"),
        ("eval('1')", "unexpected character"),
        ("a.b", "unexpected character '.'"),
        ("__import__", "unknown name"),
    ],
)
def test_parse_errors(text: str, words: str) -> None:
    with pytest.raises(FormulaError) as info:
        compile_formula(text, set(ENV))
    assert words in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "a / zero",
        "sqrt(neg)",
        "log(zero)",
        "log(neg)",
        "neg ^ 0.5",
        "zero ^ -1",
        "exp(1000)",
        "c ^ 5000",
    ],
)
def test_math_errors(text: str) -> None:
    formula = compile_formula(text, set(ENV))
    with pytest.raises(FormulaMathError):
        formula(ENV)
    # One bad row fails the whole column; the column path then goes row by row.
    with pytest.raises(FormulaMathError):
        formula.columns({name: [1.0, ENV[name]] for name in ENV}, 2)


def test_no_clamping() -> None:
    assert compile_formula("c * 10", {"c"})({"c": 2.0}) == 20.0
    assert compile_formula("-c", {"c"})({"c": 2.0}) == -2.0


def test_results_are_finite_floats() -> None:
    value = compile_formula("floor(a)", {"a"})({"a": 1.9})
    assert isinstance(value, float) and math.isfinite(value)


HOSTILE = {
    "500 nested parentheses": "(" * 500 + "a" + ")" * 500,
    "100,000 unary signs": "-" * 100_000 + "a",
    "1,000 unary signs": "-+" * 500 + "a",
    "a chain of 200 sums": " + ".join(["a"] * 200),
    "300 nested calls": "abs(" * 300 + "a" + ")" * 300,
    "a tower of 100 powers": "c ^ " * 100 + "c",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_nesting_and_length_are_bounded(name: str) -> None:
    with pytest.raises(FormulaError, match=r"nests deeper than 64|at most 4096"):
        compile_formula(HOSTILE[name], set(ENV))


def test_formulas_within_the_bounds_still_work() -> None:
    deep = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert compile_formula(deep, set(ENV))(ENV) == 0.5
    assert compile_formula("-" * MAX_DEPTH + "a", set(ENV))(ENV) == 0.5
    chain = " + ".join(["a"] * (MAX_DEPTH + 1))  # MAX_DEPTH sums, each inside the next
    formula = compile_formula(chain, set(ENV))
    assert formula(ENV) == 0.5 * (MAX_DEPTH + 1)
    assert formula.columns({"a": [1.0, 2.0]}, 2) == [MAX_DEPTH + 1.0, 2.0 * (MAX_DEPTH + 1)]
    with pytest.raises(FormulaError, match="nests deeper"):
        compile_formula(chain + " + a", set(ENV))
    spaced = "a" + " " * (MAX_LENGTH - 1)
    assert compile_formula(spaced, set(ENV))(ENV) == 0.5
    with pytest.raises(FormulaError, match="4097 characters"):
        compile_formula(spaced + " ", set(ENV))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_formula_is_a_400_at_validation_and_a_flag_at_run_time(name: str) -> None:
    exact = {"type": "string_check", "input": "{{sample.output_text}}", "reference": "a",
             "operation": "eq"}  # fmt: skip
    data = {"type": "multi", "graders": {"a": exact, "c": exact}, "calculate_output": HOSTILE[name]}
    with pytest.raises(GraderValidationError) as info:
        validate_grader(data)
    assert info.value.param == "grader.calculate_output" and info.value.status == 400
    spec = MultiGrader.model_validate(data)  # the wire shape alone: no formula check
    result = grade(spec, Sample.from_text("a"), {})
    assert result.reward == 0.0 and result.errors == {"formula_parse_error": True}
    [column] = grade_many(spec, [{"sample": "a", "item": {}}]).results  # the column path
    assert column.errors == {"formula_parse_error": True}
