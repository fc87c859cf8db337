"""`python` graders (decision G7): validated statically here, run only in `openrft.sandbox`.

`agrade` never raises: a grader that misbehaves (exception, bad return value, timeout, OOM,
crash) is `python_grader_runtime_error` with details; a host that cannot run the sandbox, or a
sandbox that fails to start, is `python_grader_server_error` with its type.
"""

from __future__ import annotations

import ast
import logging
import time
from typing import TYPE_CHECKING, Any

from openrft.errors import GraderValidationError, SandboxUnavailableError
from openrft.graders.context import GraderContext
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample

if TYPE_CHECKING:
    from openrft.sandbox import SandboxPool

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 120.0

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


async def agrade(spec: Any, sample: Sample, item: Any, ctx: GraderContext) -> GradeResult:
    """Run `spec.source`'s `grade(sample, item)` in the context's sandbox pool."""
    started = time.perf_counter()
    try:
        result = await _grade(spec, sample, item, ctx)
    except Exception as exc:  # never raise into a training step
        log.exception("python grader %r failed outside the sandbox", getattr(spec, "name", ""))
        result = failure("python_grader_server_error", "python_grader_server_error_type", str(exc))
    result.execution_time = time.perf_counter() - started
    return result


async def _grade(spec: Any, sample: Sample, item: Any, ctx: GraderContext) -> GradeResult:
    try:
        pool = _pool(ctx)
    except SandboxUnavailableError as exc:
        log.error("python graders cannot run: %s", exc.message)
        kind = f"sandbox_unavailable: {exc.message}"
        return failure("python_grader_server_error", "python_grader_server_error_type", kind)
    verdict = await pool.grade(
        spec.source,
        sample.as_dict(),
        item,
        timeout=ctx.python_timeout or DEFAULT_TIMEOUT,
        owner=ctx.project,
        image_tag=getattr(spec, "image_tag", None),
    )
    if verdict.score is not None:
        return GradeResult(verdict.score)
    if verdict.server_error:
        server = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
        return failure("python_grader_server_error", "python_grader_server_error_type", server)
    detail = f"{verdict.reason}: {verdict.detail}" if verdict.detail else verdict.reason
    return failure("python_grader_runtime_error", "python_grader_runtime_error_details", detail)


def _pool(ctx: GraderContext) -> SandboxPool:
    """The context's pool, created on first use (raises SandboxUnavailableError)."""
    root = ctx.root()
    if root.sandbox is None:
        from openrft.sandbox import SandboxPool  # keeps `import openrft.graders` light

        root.sandbox = SandboxPool()
    return root.sandbox
