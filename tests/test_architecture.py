"""The package import graph of `openrft/` has no cycle, and every import goes down the layers.

The layers, lowest first (a package may import from its own layer or any layer below, never
from one above; within a layer the packages must not import each other in a circle):

    0. errors, threads, heap, strict,    the exception tree; thread counts; the frozen heap of
       outbound                          serving processes; the strict model base; the
                                          outbound-URL allow-list
    1. store, sandbox                    SQLite, files, ids, atomic writes; grader isolation
    2. graders                           pure functions (spec, sample, item) -> result
    3. data                              JSONL reading, row rules, splits, lint
    4. models                            loading, the builtin tiny model, sampling, generate
    5. agent, train, evals               agentic episodes and their tool calls; the GRPO loop
                                         and checkpoints; evals, gates, reports
    6. jobs                              the job layer: prepare, store, worker, child process
    7. serve                             the serving engine and its batching
    8. server                            the FastAPI app and its routers
    9. demo                              the embedded demo, driving a server over HTTP
   10. cli                               the typer commands

Imports are read with `ast`, at module level and inside functions alike (a lazy import is
still a dependency), so the test needs no import of torch. A new package goes into LAYERS.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import openrft

ROOT = Path(openrft.__file__).parent
LAYERS: list[set[str]] = [
    {"errors", "threads", "heap", "strict", "outbound"},
    {"store", "sandbox"},
    {"graders"},
    {"data"},
    {"models"},
    {"agent", "train", "evals"},
    {"jobs"},
    {"serve"},
    {"server"},
    {"demo"},
    {"cli"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}

Edges = dict[tuple[str, str], list[str]]


def _unit(module: str) -> str | None:
    """The top-level unit (subpackage or module) of `openrft.x.y`: `x`; None outside openrft."""
    parts = module.split(".")
    return parts[1] if parts[0] == "openrft" and len(parts) > 1 else None


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            base = module.split(".")[: len(module.split(".")) - node.level + is_package]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        yield target
        yield from (f"{target}.{alias.name}" for alias in node.names)  # `from openrft import x`


def import_graph(root: Path = ROOT) -> Edges:
    """(importing unit, imported unit) -> where, for every import between two units."""
    edges: Edges = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        is_package = relative.name == "__init__"
        module = ".".join(relative.parts[:-1] if is_package else relative.parts)
        source = _unit(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in {_unit(name) for name in _imported(node, module, is_package)}:
                if source and target and target != source and target in _units(root):
                    edges[(source, target)].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return dict(edges)


def _units(root: Path) -> set[str]:
    modules = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    return modules | {p.parent.name for p in root.glob("*/__init__.py")}


def cycles(edges: Edges) -> list[list[str]]:
    """A shortest cycle through the smallest unit of each circle of imports; [] if none."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    found: list[list[str]] = []
    for start in sorted(graph):
        path = _path_back(graph, start)
        if path and min(path) == start:  # report each cycle once, from its smallest unit
            found.append(path)
    return found


def _path_back(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest import path from `start` back to itself, or None."""
    frontier, seen = [[start]], {start}
    while frontier:
        path = frontier.pop(0)
        for target in sorted(graph[path[-1]]):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                frontier.append([*path, target])
    return None


def test_every_unit_has_a_layer() -> None:
    missing = _units(ROOT) - set(LAYER)
    assert not missing, f"add {sorted(missing)} to LAYERS (and the docstring) in {__file__}"


def test_no_import_cycle_between_packages() -> None:
    edges = import_graph()
    found = cycles(edges)
    detail = [
        " -> ".join(cycle)
        + ": "
        + "; ".join(f"{a}->{b} at {edges[(a, b)][0]}" for a, b in itertools.pairwise(cycle))
        for cycle in found
    ]
    assert not found, "import cycles between openrft's packages:\n" + "\n".join(detail)


def test_imports_go_down_the_layers() -> None:
    upward = [
        f"{source} (layer {LAYER[source]}) imports {target} (layer {LAYER[target]}) at "
        + ", ".join(where)
        for (source, target), where in sorted(import_graph().items())
        if LAYER.get(source, 0) < LAYER.get(target, 0)
    ]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The graph reader itself: function-level and relative imports count."""
    package = tmp_path / "openrft"
    for unit, text in {
        "store": "def f():\n    from openrft.jobs import ids\n",
        "jobs": "from openrft.store import db\nfrom ..store.db import x\n",
    }.items():
        (package / unit).mkdir(parents=True)
        (package / unit / "__init__.py").write_text("")
        (package / unit / "mod.py").write_text(text)
    edges = import_graph(package)
    assert set(edges) == {("store", "jobs"), ("jobs", "store")}
    assert len(edges[("jobs", "store")]) == 2
    assert cycles(edges) == [["jobs", "store", "jobs"]]
