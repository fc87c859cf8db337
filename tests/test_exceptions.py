"""Every exception class defined in `openrft/` descends from `openrft.errors.OpenRFTError`, the
tree drawn in errors.py's docstring, unless it is on the short list of internal signals below:
exceptions that are caught next to where they are raised and never reach a user as an error.

Classes are read with `ast` (bases resolved by name through openrft's own classes down to a
builtin), so no module is imported and a class in a torch-importing module is seen too.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import openrft
from openrft import errors

ROOT = Path(openrft.__file__).parent
BASE = "OpenRFTError"

INTERNAL = {
    # Not errors: a signal or an exit code.
    "cli/render.py:Interrupted": "SystemExit(130) after Ctrl-C; the command already said why",
    "server/disconnect.py:ClientGone": "the client left; the route answers a closed connection",
    "evals/records.py:_Gone": "a run left in_progress mid-chunk; the write is skipped",
    "data/jsonl.py:_LineError": "one line's problem; re-raised as DataFileError with path:line",
    # Grading failures are data (errors.py): each is caught in graders/ and becomes an error
    # flag beside the reward (or a GraderValidationError at validation), never a response.
    "graders/sample.py:SampleParseError": "-> the sample_parse_error flag",
    "graders/template.py:VariableError": "-> invalid_variable_error",
    "graders/formula.py:FormulaError": "-> GraderValidationError / formula_parse_error",
    "graders/formula.py:FormulaMathError": "-> other_error, reward 0 (G8)",
    "graders/judge/client.py:JudgeServerError": "-> model_grader_server_error (G4)",
    "graders/embeddings.py:EmbeddingsError": "-> other_error on the cosine grade",
    "graders/text_similarity.py:MetricUnavailableError": "-> other_error, with the fix",
    "graders/endpoint_client.py:EndpointError": "-> unresponsive_reward_error, with details",
    "graders/endpoint_client.py:_Failed": "one attempt's failure; retried or an EndpointError",
}


def exception_classes(root: Path = ROOT) -> dict[str, list[str]]:
    """`path:Class` -> base names, for every class in `root` that is an exception."""
    bases: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                bases[node.name] = names
                where[node.name] = f"{path.relative_to(root).as_posix()}:{node.name}"

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        builtin = getattr(builtins, name, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return name not in seen and any(is_exception(b, seen | {name}) for b in bases.get(name, []))

    return {where[name]: bases[name] for name in bases if is_exception(name)}


def descends(name: str, classes: dict[str, list[str]]) -> bool:
    by_name = {key.split(":")[1]: value for key, value in classes.items()}
    return name == BASE or any(descends(base, classes) for base in by_name.get(name, []))


def test_every_exception_is_in_the_tree_or_an_internal_signal() -> None:
    classes = exception_classes()
    outside = sorted(
        key for key in classes if not descends(key.split(":")[1], classes) and key not in INTERNAL
    )
    assert not outside, f"subclass errors.py's tree (or justify in INTERNAL): {outside}"
    stale = sorted(set(INTERNAL) - set(classes))
    assert not stale, f"INTERNAL names classes that no longer exist: {stale}"


def test_the_tree_in_the_docstring_names_every_class_in_it() -> None:
    classes = exception_classes()
    in_tree = sorted(k.split(":")[1] for k in classes if descends(k.split(":")[1], classes))
    doc = errors.__doc__ or ""
    assert [name for name in in_tree if name not in doc] == []
    assert "RateLimitError" not in in_tree  # nothing raised it: a 429 is never answered


def test_the_reader_follows_bases_through_openrft(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "class OpenRFTError(Exception): ...\nclass Mine(OpenRFTError): ...\n"
        "class Loose(ValueError): ...\nclass Deeper(Loose): ...\nclass Plain: ...\n"
    )
    classes = exception_classes(tmp_path)
    assert sorted(classes) == ["a.py:Deeper", "a.py:Loose", "a.py:Mine", "a.py:OpenRFTError"]
    assert descends("Mine", classes) and not descends("Deeper", classes)
