"""Every command's `--help`: each option says what it is for, and flags read as flags."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer

from openrft.cli.main import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below `command`, as the words that name it."""
    found = [path] if path else []
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def _command(path: tuple[str, ...]) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


COMMANDS = _commands(typer.main.get_command(app))


def _help(path: tuple[str, ...]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "openrft.cli", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_command_is_listed() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"grade", "eval", "gate", "readiness", "audit", "train", "serve", "demo"} <= names
    assert {"data", "data split", "data lint"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_option_and_argument_has_help(path: tuple[str, ...]) -> None:
    command = _command(path)
    assert (command.help or "").strip(), f"openrft {' '.join(path)}: no description"
    for param in command.params:
        words = f"openrft {' '.join(path)} {param.opts[0]}"
        assert (getattr(param, "help", None) or "").strip(), f"{words}: no help"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_shows_flags_as_flags_within_80_columns(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "<bool>" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = [line.split() for line in text.splitlines()]
    flags = [p for p in _command(path).params if getattr(p, "is_flag", False)]
    for flag in [*flags, None]:  # None: `--help` itself
        name = flag.opts[-1] if flag is not None else "--help"
        line = next(words for words in lines if name in words)
        after = line[line.index(name) + 1 :]
        assert not after or not after[0].startswith("<"), f"{name} shows a value: {line}"
