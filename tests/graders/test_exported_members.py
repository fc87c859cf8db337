"""The public face of `openrft.graders` (httpx's `tests/test_exported_members.py` habit).

`__all__` is the whole of it: every name there is defined inside the package, every public name
the package holds is there, and the rest of openrft (and bench/) imports only those names, from
`openrft.graders` itself, never from its modules. Tests may reach into the modules they test.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import openrft.graders as graders

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "openrft" / "graders"
OUTSIDE = [ROOT / "openrft", ROOT / "bench"]


def assigned_at_top(name: str) -> list[str]:
    """The package modules that assign `name` at module level (constants, type aliases)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(path.relative_to(PACKAGE).as_posix())
    return found


def test_every_exported_name_is_defined_in_the_package() -> None:
    for name in graders.__all__:
        value = getattr(graders, name)
        if callable(value):  # classes, functions, cached functions
            assert value.__module__.startswith("openrft.graders."), (name, value.__module__)
        else:  # constants and type aliases have no module of their own
            assert assigned_at_top(name), f"{name} is not defined in openrft.graders"


def test_every_public_attribute_is_exported() -> None:
    public = {
        name
        for name, value in vars(graders).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(graders.__all__)
    assert len(graders.__all__) == len(set(graders.__all__))


def imports_from_the_package(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of `openrft.graders` or one of its modules."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openrft.graders"):
            found.append((node.lineno, node.module or "", [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("openrft.graders"):
                    found.append((node.lineno, alias.name, []))
    return found


def outside_modules() -> list[Path]:
    paths = [path for top in OUTSIDE for path in top.rglob("*.py")]
    return sorted(path for path in paths if PACKAGE not in path.parents)


def test_the_rest_of_openrft_imports_only_the_public_face() -> None:
    exported = set(graders.__all__)
    wrong = []
    for path in outside_modules():
        for line, module, names in imports_from_the_package(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module != "openrft.graders":
                wrong.append(f"{where} imports {module}: import from openrft.graders")
            wrong.extend(f"{where} imports {name}, not in __all__" for name in names
                         if name not in exported)  # fmt: skip
    assert wrong == []


def test_the_scan_sees_the_imports_it_checks() -> None:
    """A scan that found nothing would pass vacuously: the package has many callers."""
    callers = {path.relative_to(ROOT).as_posix() for path in outside_modules()
               if imports_from_the_package(path)}  # fmt: skip
    assert {"openrft/train/rewards.py", "openrft/server/auth.py", "bench/graders.py"} <= callers
    used = {name for path in outside_modules()
            for _, _, names in imports_from_the_package(path) for name in names}  # fmt: skip
    assert {"grade_columns", "JudgeBudget", "PROJECT_HEADER", "validate_grader"} <= used


def test_the_public_face_stays_light() -> None:
    code = "import sys, openrft.graders; print(sorted({'torch', 'openai'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
