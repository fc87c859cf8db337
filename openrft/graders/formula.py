"""The `multi` grader's `calculate_output` language (decision G8), parsed by hand, never `eval`.

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := '-' unary | '+' unary | power
    power := atom ('^' unary)?            right-associative; -2^2 == -(2^2)
    atom  := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Names are the `graders` map keys; functions are min, max (one or more arguments), abs,
floor, ceil, exp, sqrt and log (natural), each of one argument. A formula parses once to a
small tree, compiled twice: for one row (a mapping of rewards) and for a batch (a mapping of
reward columns, each operator applied by `map` over the columns, in the same order, so every
value equals the row one's). Evaluating raises `FormulaMathError` for ÷0, sqrt/log out of
domain, overflow or a non-finite result.

Bounds: a formula is at most `MAX_LENGTH` characters and nests at most `MAX_DEPTH` levels
(parentheses, calls, signs, powers, and the operators of a long chain alike), so parsing and
evaluating recurse a bounded amount whatever the input.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache, partial
from itertools import repeat
from typing import Any

Env = Mapping[str, float]
Node = Callable[[Env], float]
Columns = Mapping[str, list[float]]
Values = list[float] | float
"""A column, or one value for every row (a constant part of the formula)."""
ColumnNode = Callable[[Columns], Values]
Tree = tuple[Any, ...]
"""("num", value) | ("var", name) | ("neg", tree) | ("op", symbol, left, right) |
("call", name, (tree, ...))"""

_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_]\w*)|(\S))"
)
_UNARY_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "floor": lambda x: float(math.floor(x)),
    "ceil": lambda x: float(math.ceil(x)),
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_VARIADIC: dict[str, Callable[..., float]] = {"min": min, "max": max}
_OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": math.pow,  # raises ValueError for (-8) ^ 0.5 instead of returning a complex
}
FUNCTIONS = frozenset(_UNARY_FUNCTIONS) | frozenset(_VARIADIC)
MAX_LENGTH = 4096
"""Characters in a formula."""
MAX_DEPTH = 64
"""Levels of nesting in a formula: `((a))` and `-(-a)` are 2, and so is `a + b + c`, a sum of
a sum."""


class FormulaError(ValueError):
    """A formula that does not parse, or names something unknown."""


class FormulaMathError(ArithmeticError):
    """A formula that parsed but cannot be evaluated on these values."""


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        number, name, symbol = match.groups()
        if number is not None:
            tokens.append(("num", number))
        elif name is not None:
            tokens.append(("name", name))
        elif symbol is not None:
            if symbol not in "+-*/^(),":
                raise FormulaError(f"unexpected character {symbol!r} at position {match.start(3)}")
            tokens.append(("op", symbol))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, names: frozenset[str]):
        self.tokens = _tokenize(text)
        self.position = 0
        self.names = names
        self.depth = 0

    @contextmanager
    def nested(self) -> Iterator[None]:
        """One level deeper: parentheses, a call's arguments, a sign, an exponent."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(_too_deep())
        yield
        self.depth -= 1

    def peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise FormulaError(
                f"unexpected end of formula{f', expected {expected!r}' if expected else ''}"
            )
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise FormulaError(f"expected {expected!r} but found {token[1]!r}")
        self.position += 1
        return token

    def parse(self) -> Tree:
        if not self.tokens:
            raise FormulaError("the formula is empty")
        node = self.expr()
        if self.position != len(self.tokens):
            raise FormulaError(f"unexpected {self.peek()!r} after a complete expression")
        return node

    def expr(self) -> Tree:
        node = self.term()
        while self.peek() in ("+", "-"):
            node = ("op", self.take()[1], node, self.term())
        return node

    def term(self) -> Tree:
        node = self.unary()
        while self.peek() in ("*", "/"):
            node = ("op", self.take()[1], node, self.unary())
        return node

    def unary(self) -> Tree:
        if self.peek() not in ("-", "+"):
            return self.power()
        sign = self.take()[1]
        with self.nested():
            operand = self.unary()
        return ("neg", operand) if sign == "-" else operand

    def power(self) -> Tree:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        with self.nested():
            return ("op", "^", base, self.unary())

    def atom(self) -> Tree:
        kind, text = self.take()
        if kind == "num":
            return ("num", float(text))
        if kind == "name":
            return self.call(text) if self.peek() == "(" else self.variable(text)
        if text == "(":
            with self.nested():
                node = self.expr()
            self.take(")")
            return node
        raise FormulaError(f"unexpected {text!r}")

    def variable(self, name: str) -> Tree:
        if name not in self.names:
            known = ", ".join(sorted(self.names)) or "none"
            raise FormulaError(f"unknown name {name!r} (graders: {known})")
        return ("var", name)

    def call(self, name: str) -> Tree:
        if name not in FUNCTIONS:
            raise FormulaError(
                f"unknown function {name!r}; available: {', '.join(sorted(FUNCTIONS))}"
            )
        self.take("(")
        with self.nested():
            args = [self.expr()]
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
        self.take(")")
        if name in _UNARY_FUNCTIONS and len(args) != 1:
            raise FormulaError(f"{name}() takes one argument, got {len(args)}")
        return ("call", name, tuple(args))


def _closure(tree: Tree, lift: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Any:
    """The tree as nested closures over an environment; `lift` turns each scalar operation
    into the one applied to the environment's values (itself for a row, `map` for columns)."""
    kind = tree[0]
    if kind == "num":
        value = tree[1]
        return lambda env: value
    if kind == "var":
        name = tree[1]
        return lambda env: env[name]
    if kind == "neg":
        negate, operand = lift(operator.neg), _closure(tree[1], lift)
        return lambda env: negate(operand(env))
    if kind == "op":
        apply = lift(_OPERATORS[tree[1]])
        left, right = _closure(tree[2], lift), _closure(tree[3], lift)
        return lambda env: apply(left(env), right(env))
    args = [_closure(arg, lift) for arg in tree[2]]
    if tree[1] in _VARIADIC:
        fold = _VARIADIC[tree[1]]
        combine = lift(lambda *values: fold(values))
        return lambda env: combine(*(arg(env) for arg in args))
    function, (arg,) = lift(_UNARY_FUNCTIONS[tree[1]]), args
    return lambda env: function(arg(env))


def _row(tree: Tree) -> Node:
    """The tree as a closure over one row's rewards."""
    node: Node = _closure(tree, lambda function: function)
    return node


def _column(tree: Tree) -> ColumnNode:
    """The tree as a closure over reward columns: the row closure's operations, by `map`."""
    node: ColumnNode = _closure(tree, lambda function: partial(_map, function))
    return node


def _map(function: Callable[..., float], *operands: Values) -> Values:
    """`function` row by row; a single value stands for the same value on every row."""
    if all(isinstance(operand, float) for operand in operands):
        return function(*operands)
    return list(map(function, *(repeat(x) if isinstance(x, float) else x for x in operands)))


class Formula:
    """A compiled formula: call it with one row's sub-grader rewards, or use `columns`."""

    __slots__ = ("_column", "_row", "text")

    def __init__(self, text: str, tree: Tree):
        self.text = text
        self._row = _row(tree)
        self._column = _column(tree)

    def __call__(self, env: Env) -> float:
        try:
            value = float(self._row(env))
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise FormulaMathError(f"{self.text}: {exc}") from None
        if not math.isfinite(value):
            raise FormulaMathError(f"{self.text}: the result is not a finite number")
        return value

    def columns(self, columns: Columns, rows: int) -> list[float]:
        """The formula on every row at once; `FormulaMathError` if any row fails (the caller
        then goes row by row to find which)."""
        try:
            values = self._column(columns)
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise FormulaMathError(f"{self.text}: {exc}") from None
        out = [float(values)] * rows if isinstance(values, float) else list(map(float, values))
        if len(out) != rows or not all(map(math.isfinite, out)):
            raise FormulaMathError(f"{self.text}: the result is not a finite number")
        return out


def _too_deep() -> str:
    return f"the formula nests deeper than {MAX_DEPTH} levels"


def _depth(tree: Tree) -> int:
    """Levels of operations in the tree (a long chain is a deep tree), counted without
    recursion; a number or a name alone is level 0."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, level = stack.pop()
        kind = node[0]
        children = (node[1],) if kind == "neg" else node[2:] if kind == "op" else ()
        children = node[2] if kind == "call" else children
        if children:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


@lru_cache(maxsize=1024)
def _compile(text: str, names: frozenset[str]) -> Formula:
    if len(text) > MAX_LENGTH:
        raise FormulaError(
            f"the formula is {len(text)} characters long; at most {MAX_LENGTH} are allowed"
        )
    tree = _Parser(text, names).parse()
    if _depth(tree) > MAX_DEPTH:
        raise FormulaError(_too_deep())
    return Formula(text, tree)


def compile_formula(text: str, names: set[str] | frozenset[str]) -> Formula:
    """Parse `text` with `names` as its variables; raises `FormulaError`."""
    return _compile(text, frozenset(names))
