"""Commands quoted inline in the docs (`openrft gate --candidate M ...`) name real commands and
options: a renamed or removed option fails here even where no fenced block runs it."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from openrft.cli.main import app
from tests.docs.blocks import pages

_SPAN = re.compile(r"`(?:\.venv/bin/)?(openrft [^`]+)`")
_OPTION = re.compile(r"^(--[a-z][a-z0-9-]*)")


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for path in pages():
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        found += [(path.name, span) for span in _SPAN.findall(text)]
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The click command a span names and the words after its name."""
    command: Any = typer.main.get_command(app)
    rest = words[1:]
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


@pytest.mark.parametrize("page, span", _inline_commands())
def test_inline_command_names_real_options(page: str, span: str) -> None:
    command, rest = _resolve(span.split())
    assert not hasattr(command, "commands") or not rest or rest[0].startswith("-"), (
        f"{page}: `{span}`: no command {rest[0]!r}"
    )
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    options = {m.group(1) for word in rest if (m := _OPTION.match(word.lstrip("[")))}
    assert options <= known, f"{page}: `{span}`: unknown {sorted(options - known)}"
