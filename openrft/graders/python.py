"""`python` graders (decision G7): validated statically here, run only in `openrft.sandbox`."""

from __future__ import annotations

import ast

from openrft.errors import GraderValidationError

SOURCE_LIMIT = 256 * 1024


def check_source(source: str) -> None:
    """Size, UTF-8, compiles, defines `grade(sample, item)`: checked without running any of it."""
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError:
        raise GraderValidationError("source is not valid UTF-8", param="source") from None
    if size > SOURCE_LIMIT:
        raise GraderValidationError(
            f"source is {size} bytes; the limit is {SOURCE_LIMIT} (256 KiB)", param="source"
        )
    try:
        tree = ast.parse(source, "<grader>")
        compile(tree, "<grader>", "exec")  # compiling runs nothing
    except (SyntaxError, ValueError) as exc:
        raise GraderValidationError(f"source does not compile: {exc}", param="source") from None
    _check_grade_defined(tree)


def _check_grade_defined(tree: ast.Module) -> None:
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "grade"]
    if defs:
        args = defs[-1].args
        positional = len(args.posonlyargs) + len(args.args)
        required_kw = [d for d in args.kw_defaults if d is None]
        if positional != 2 or args.vararg is not None or required_kw:
            raise GraderValidationError(
                f"grade() must take exactly two positional parameters (sample, item); "
                f"it takes {positional}",
                param="source",
            )
        return
    if not _binds_grade(tree):
        raise GraderValidationError(
            "source must define a function grade(sample, item) returning a number",
            param="source",
        )


def _binds_grade(tree: ast.Module) -> bool:
    """`grade = ...` or `from x import y as grade` at top level: arity is checked at run time."""
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "grade" for t in targets):
                return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any(
            (alias.asname or alias.name) == "grade" for alias in node.names
        ):
            return True
    return False
