"""The `multi` grader's `calculate_output` language (decision G8), parsed by hand, never `eval`.

    expr  := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := '-' unary | '+' unary | power
    power := atom ('^' unary)?            right-associative; -2^2 == -(2^2)
    atom  := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Names are the `graders` map keys; functions are min, max (one or more arguments), abs,
floor, ceil, exp, sqrt and log (natural), each of one argument. A formula compiles to a
closure once; evaluating it raises `FormulaMathError` for ÷0, sqrt/log out of domain, overflow
or a non-finite result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import lru_cache

Env = Mapping[str, float]
Node = Callable[[Env], float]

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
FUNCTIONS = frozenset(_UNARY_FUNCTIONS) | frozenset(_VARIADIC)


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

    def parse(self) -> Node:
        if not self.tokens:
            raise FormulaError("the formula is empty")
        node = self.expr()
        if self.position != len(self.tokens):
            raise FormulaError(f"unexpected {self.peek()!r} after a complete expression")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            node = _binary(self.take()[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            node = _binary(self.take()[1], node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            operand = self.unary()
            return lambda env: -operand(env)
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            return _binary("^", base, self.unary())
        return base

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            value = float(text)
            return lambda env: value
        if kind == "name":
            return self.call(text) if self.peek() == "(" else self.variable(text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        raise FormulaError(f"unexpected {text!r}")

    def variable(self, name: str) -> Node:
        if name not in self.names:
            known = ", ".join(sorted(self.names)) or "none"
            raise FormulaError(f"unknown name {name!r} (graders: {known})")
        return lambda env: env[name]

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise FormulaError(
                f"unknown function {name!r}; available: {', '.join(sorted(FUNCTIONS))}"
            )
        self.take("(")
        args = [self.expr()]
        while self.peek() == ",":
            self.take()
            args.append(self.expr())
        self.take(")")
        if name in _VARIADIC:
            fold = _VARIADIC[name]
            return lambda env: fold(arg(env) for arg in args)
        if len(args) != 1:
            raise FormulaError(f"{name}() takes one argument, got {len(args)}")
        function, (arg,) = _UNARY_FUNCTIONS[name], args
        return lambda env: function(arg(env))


def _power(a: float, b: float) -> float:
    return math.pow(a, b)  # raises ValueError for (-8) ^ 0.5 instead of returning a complex


_OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": _power,
}


def _binary(op: str, left: Node, right: Node) -> Node:
    apply = _OPERATORS[op]
    return lambda env: apply(left(env), right(env))


class Formula:
    """A compiled formula; call it with the sub-grader rewards."""

    __slots__ = ("_node", "text")

    def __init__(self, text: str, node: Node):
        self.text = text
        self._node = node

    def __call__(self, env: Env) -> float:
        try:
            value = float(self._node(env))
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise FormulaMathError(f"{self.text}: {exc}") from None
        if not math.isfinite(value):
            raise FormulaMathError(f"{self.text}: the result is not a finite number")
        return value


@lru_cache(maxsize=1024)
def _compile(text: str, names: frozenset[str]) -> Formula:
    return Formula(text, _Parser(text, names).parse())


def compile_formula(text: str, names: set[str] | frozenset[str]) -> Formula:
    """Parse `text` with `names` as its variables; raises `FormulaError`."""
    return _compile(text, frozenset(names))
