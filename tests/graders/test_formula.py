"""The multi-grader formula language (decision G8): grammar, precedence and every error path."""

from __future__ import annotations

import math

import pytest

from openrft.graders.formula import FormulaError, FormulaMathError, compile_formula

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
