"""Shared rendering for the CLI: a stderr console, progress bars, JSON loading with clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from openrft.errors import DataFileError


class Interrupted(SystemExit):
    """Exit 130 from a command that already said what Ctrl-C left behind."""

    def __init__(self) -> None:
        super().__init__(130)


console = Console()
err_console = Console(stderr=True)


def load_json_file(path: Path) -> Any:
    """A whole-file JSON document (a grader, a job spec) or one clear `DataFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise DataFileError("is a directory, expected a JSON file", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"not UTF-8 ({exc.reason})", path=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"invalid JSON at column {exc.colno}: {exc.msg}", path=str(path), line=exc.lineno
        ) from None


@contextmanager
def progress_bar(total: int, label: str, *, enabled: bool = True) -> Iterator[Any]:
    """Yields `update(done)`; draws a bar on stderr when enabled (long runs only)."""
    if not enabled:
        yield lambda done: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def say_progress(kind: str, payload: Any) -> None:
    """A demo's live progress line: a step's rewards (and tool calls per episode, when the
    job has tools), the job created, one of its events, or a stage of the loop."""
    if kind == "metrics":
        valid, calls = payload["valid"], payload.get("calls")
        shown = f"  valid reward {valid:.3f}" if isinstance(valid, int | float) else ""
        shown += f"  tool calls/episode {calls:.2f}" if isinstance(calls, int | float) else ""
        train = payload["train"]
        console.print(
            f"  step {payload['step']:>4}/{payload['total'] or '?'}  "
            f"train reward {train if train is None else f'{train:.3f}'}{shown}",
            highlight=False,
        )
    elif kind == "job":
        console.print(f"[bold]job[/bold] {payload} created; following it live")
    elif kind == "event":
        console.print(f"  [dim]{payload}[/dim]")
    else:
        console.print(f"[bold cyan]→[/bold cyan] {payload}")
