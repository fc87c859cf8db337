"""What the docs quote outside their code blocks is real: commands and options quoted inline
(`openrft gate --candidate M ...`), links between pages and their anchors, repository paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from openrft.cli.main import app
from tests.docs.blocks import ROOT, all_blocks, pages
from tests.docs.workspace import commands, logical_lines

_SPAN = re.compile(r"`(?:\.venv/bin/)?(openrft [^`]+)`")
_OPENRFT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S+\s+)*(?:\.venv/bin/)?(openrft .+)$")
_OPTION = re.compile(r"^(--[a-z][a-z0-9-]*)")


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for path in pages():
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        found += [(path.name, span) for span in _SPAN.findall(text)]
    return found


def _unrun_commands() -> list[tuple[str, str]]:
    """`openrft` lines of the blocks the docs check does not run (NOT_RUN, `text`)."""
    from tests.docs.test_docs import NOT_RUN

    found = []
    for block in all_blocks():
        if block.lang == "text" or block.key in NOT_RUN:
            for line in logical_lines(commands(block)):
                if command := _OPENRFT.match(line):
                    found.append((block.id, command.group(1)))
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The click command a span names and the words after its name."""
    command: Any = typer.main.get_command(app)
    rest = words[1:]
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


@pytest.mark.parametrize("page, span", _inline_commands() + _unrun_commands())
def test_inline_command_names_real_options(page: str, span: str) -> None:
    command, rest = _resolve(span.split())
    if hasattr(command, "commands") and rest and rest[0].isupper():  # `openrft COMMAND --help`
        rest = rest[1:]
    assert not hasattr(command, "commands") or not rest or rest[0].startswith("-"), (
        f"{page}: `{span}`: no command {rest[0]!r}"
    )
    known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    known.add("--help")
    options = {m.group(1) for word in rest if (m := _OPTION.match(word.lstrip("[")))}
    assert options <= known, f"{page}: `{span}`: unknown {sorted(options - known)}"


_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH = re.compile(r"`((?:openrft|bench|tests|scripts|docs)/[^`\s<>{}*…]+)`")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_links_and_paths_resolve() -> None:
    broken = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            name, _, anchor = target.partition("#")
            linked = (page.parent / name).resolve() if name else page
            if not linked.exists() or (anchor and anchor not in _anchors(linked)):
                broken.append(f"{page.name}: ({target})")
        broken += [f"{page.name}: `{p}`" for p in _PATH.findall(text) if not (ROOT / p).exists()]
    assert not broken, f"links or paths that lead nowhere: {broken}"
