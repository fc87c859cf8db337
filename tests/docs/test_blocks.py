"""The docs check reads pages as a reader sees them: fences, marks, indented blocks, prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs import blocks
from tests.docs.blocks import Block, parse
from tests.docs.workspace import commands, logical_lines

PAGE = """# A page

<!-- docs-check: exit=1 -->
<!-- docs-check: file=job.json -->
```bash
openrft gate --candidate a \\
    --baseline b   # a comment
```

- a list item:

  ```python
  job = client.fine_tuning.jobs.retrieve(job.id)
  ```

```
no language
```
"""


def test_fences_marks_and_indentation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text(PAGE)
    monkeypatch.setattr(blocks, "ROOT", tmp_path)
    shell, snippet, bare = parse(page)
    assert (shell.id, shell.lang, shell.mark("exit"), shell.mark("file")) == (
        "docs/page.md:5", "bash", "1", "job.json",
    )  # fmt: skip
    assert shell.key == "docs/page.md: openrft gate --candidate a"
    assert logical_lines(shell.text) == ["openrft gate --candidate a --baseline b"]
    assert snippet.text == "job = client.fine_tuning.jobs.retrieve(job.id)\n"
    assert (snippet.line, snippet.marks) == (12, ())
    assert bare.lang == "" and bare.lang not in blocks.KINDS


def test_console_blocks_run_their_prompt_lines_only() -> None:
    block = Block("p.md", 1, "console", "$ openrft grade \\\n    --json\nmean 0.5\n$ ls\nx\n")
    assert commands(block) == "openrft grade \\\n    --json\nls\n"
