"""The fenced code blocks of README.md and docs/*.md, as the docs check runs them.

A fence's language says what the block is: `bash`/`sh`/`shell` are commands (in `console`,
the `$ ` lines are; the others are output), `python` a snippet, `json` a grader, dataset row
or job file, `text` something that is not run (a diagram, a directory layout). A fence
without a language is an error, so every new block is either run or said not to be.

An HTML comment on the line just before a fence, invisible on the rendered page, tells the
check more about the block:

    <!-- docs-check: file=job.json -->   the block is that file; written before the page runs
    <!-- docs-check: exit=1 -->          the command is documented to exit with that code
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL = {"bash", "sh", "shell", "console"}
KINDS = SHELL | {"python", "json", "text"}
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*docs-check:\s*(\w+)=(\S+)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    """The page's path from the repository root (`README.md`, `docs/server.md`)."""
    line: int
    """The line of the opening fence, 1-based."""
    lang: str
    text: str
    """The block's lines, dedented by the fence's own indentation."""
    marks: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def key(self) -> str:
        """Stable across edits above the block: the page and the block's first line."""
        first = next((line.strip() for line in self.text.splitlines() if line.strip()), "")
        return f"{self.page}: " + first.rstrip(" \\")

    def mark(self, name: str) -> str | None:
        return dict(self.marks).get(name)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def parse(path: Path) -> list[Block]:
    """Every fenced block of one page, in order."""
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, lang = opening.groups()
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line
            for line in lines[index + 1 : end]
        ]
        blocks.append(Block(page, index + 1, lang, "\n".join(body) + "\n", _marks(lines, index)))
        index = end + 1
    return blocks


def _marks(lines: list[str], fence: int) -> tuple[tuple[str, str], ...]:
    marks = []
    at = fence - 1
    while at >= 0 and (found := _MARK.match(lines[at])):
        marks.append((found.group(1), found.group(2)))
        at -= 1
    return tuple(marks)


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in parse(path)]
