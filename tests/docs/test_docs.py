"""Every command and snippet in README.md and docs/*.md runs and does what the page says.

Each fenced block is one test, named by its page and line (`docs/server.md:7`). Blocks of a
page run in order, in one directory with small data, a fresh OPENRFT_HOME and, where a block
talks to a server, a live `openrft serve` on loopback (see workspace.py). Shell blocks must
exit 0 or the code a `<!-- docs-check: exit=N -->` mark documents; python blocks must not
raise; JSON blocks must be accepted by openrft's own validators. Blocks that cannot run here
are listed in NOT_RUN with the reason; blocks that fail because of a known bug being fixed are
in PENDING_FIXES, expected to fail until the fix lands (then the entry must go).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import KINDS, Block, all_blocks
from tests.docs.workspace import Server, Workspace

BLOCKS = all_blocks()

# Keyed by "page: first line of the block", so edits elsewhere on a page do not move them.
NOT_RUN = {
    "README.md: make demo   # fresh machine: builds .venv, then runs the main job on the embedded default task":
        "`make` builds .venv from the network; `make test` is this suite itself, and "
        "tests/demo/test_demo.py runs the demo `make demo` runs",
    "docs/data.md: .venv/bin/python bench/data.py            # 50,000 generated rows, best of 5":
        "a benchmark: seconds of measurement whose numbers are the table's, not a pass/fail",
    "docs/model-graders.md: .venv/bin/python bench/model_grader.py            # --rows 1000 --delay 0.02 --repeat 5":
        "a benchmark: two minutes of measurement whose numbers are the table's",
    "docs/models.md: openrft models list                      # name, source, size, where":
        "a reference of `add`'s sources: a model directory, a GGUF file, a hub id and a "
        "checkpoint the page does not have; tests/cli/test_models_cli.py runs each",
    "docs/training.md: OPENRFT_HOME=.openrft .venv/bin/python bench/train.py [--steps 20] [--python-steps 5] [--rounds 2]":
        "a benchmark against TRL: minutes of measurement whose numbers are the table's",
}  # fmt: skip

# Blocks that fail only because of a bug another change is fixing: block key -> (text the
# failure shows, the bug). They run and must fail that way (a strict xfail); once the fix is
# merged they pass, which fails the test until the entry is deleted.
PENDING_FIXES: dict[str, tuple[str, str]] = {}


class Pages:
    """The workspace of the page being run; a page's workspace closes when the next begins."""

    def __init__(self, root: Path, tiny: Path):
        self.root, self.tiny = root, tiny
        self.server = Server(root / "server", tiny)
        self.current: Workspace | None = None

    def workspace(self, page: str) -> Workspace:
        if self.current is None or self.current.page != page:
            self.close()
            directory = self.root / page.replace("/", "_")
            directory.mkdir()
            blocks = [block for block in BLOCKS if block.page == page]
            self.current = Workspace(page, directory, self.tiny, self.server, blocks)
        return self.current

    def run(self, block: Block) -> None:
        """Run `block`, after the blocks above it on its page that have not run yet (so one
        block can be run alone: `pytest "tests/docs/test_docs.py::test_block[docs/server.md:278]"`)."""
        workspace = self.workspace(block.page)
        for earlier in [b for b in BLOCKS if b.page == block.page and b.line < block.line]:
            if earlier not in workspace.attempted and _runs(earlier):
                workspace.attempted.add(earlier)
                workspace.run(earlier)
        workspace.attempted.add(block)
        workspace.run(block)

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


def _runs(block: Block) -> bool:
    return block.lang != "text" and block.key not in NOT_RUN and block.key not in PENDING_FIXES


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    from tests.support.smollm2 import smollm2_home
    from tests.train.helpers import tiny_home

    smollm2_home(tmp_path_factory)  # the session's import, linked into each page's home
    tiny = tiny_home(tmp_path_factory) / "models" / "openrft-tiny"
    runner = Pages(tmp_path_factory.mktemp("docs"), tiny)
    yield runner
    runner.close()
    runner.server.stop()


def test_every_fence_says_what_it_is() -> None:
    unknown = [f"{b.id} ```{b.lang}" for b in BLOCKS if b.lang not in KINDS]
    assert not unknown, f"give each fence a language ({sorted(KINDS)}): {unknown}"


def test_lists_name_blocks_that_exist() -> None:
    keys = {block.key for block in BLOCKS}
    stale = sorted((set(NOT_RUN) | set(PENDING_FIXES)) - keys)
    assert not stale, f"NOT_RUN / PENDING_FIXES entries with no such block: {stale}"
    assert not set(NOT_RUN) & set(PENDING_FIXES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id) for b in BLOCKS if b.lang in KINDS - {"text"}]
)
def test_block(block: Block, pages: Pages) -> None:
    if block.key in NOT_RUN:
        assert NOT_RUN[block.key]
        return
    if block.key not in PENDING_FIXES:
        pages.run(block)
        return
    shows, bug = PENDING_FIXES[block.key]
    try:
        pages.run(block)
    except Exception as failure:  # any failure of the block; which one is checked below
        assert shows in str(failure), f"{block.id} fails, but not with {shows!r}: {failure}"
        pytest.xfail(bug)
    pytest.fail(f"{block.id} passes now: delete its PENDING_FIXES entry ({bug})")
