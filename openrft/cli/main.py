"""`openrft`: the entry point. Each command lives in its own module, named in `COMMANDS`, and
is imported only when it runs (`openrft grade` does not load the trainer or the server).

Errors that a person can fix (`OpenRFTError`) print as one line on stderr and exit 2;
nothing prints a traceback unless `OPENRFT_DEBUG=1`. Exit codes (docs/cli.md): 0 ok, 1 a
check failed, 2 a usage or input error, 130 interrupted.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any

import typer

from openrft import threads
from openrft.cli.render import Interrupted
from openrft.errors import OpenRFTError

__all__ = ["COMMANDS", "build_app", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "grade": ("grade", "grade_command"),
    "demo": ("demo", "demo_command"),
    "data": ("data", "app"),
    "train": ("train", "train_command"),
    "eval": ("evals", "eval_command"),
    "gate": ("evals", "gate_command"),
    "readiness": ("evals", "readiness_command"),
    "audit": ("evals", "audit_command"),
    "judge-check": ("judge_check", "judge_check_command"),
    "review": ("review", "app"),
    "serve": ("serve", "serve_command"),
    "worker": ("worker", "worker_command"),
    "models": ("models", "app"),
}
"""Command name → (module in `openrft.cli`, its command function or `typer.Typer` group), in
the order `openrft --help` lists them."""


def build_app(names: tuple[str, ...] = tuple(COMMANDS)) -> typer.Typer:
    """The `openrft` app with the named commands (their modules imported now)."""
    app = typer.Typer(
        name="openrft",
        help="Self-hosted reinforcement fine-tuning with OpenAI-compatible graders and jobs.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,  # plain help: flags read as flags (no `<bool>`), wraps at any width
    )
    for name in names:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(f"openrft.cli.{module}"), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
    if len(names) == 1:
        app.callback()(_group)  # a lone command still goes by its name
    return app


def _group() -> None:
    """Self-hosted reinforcement fine-tuning with OpenAI-compatible graders and jobs."""


@functools.cache
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> Any:
    """`app`, every command loaded (for tests and docs that walk the whole tree)."""
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _invoked(args: list[str]) -> tuple[str, ...]:
    """The command the arguments run (only its module is imported), or every command (for
    `--help`, a typo, no arguments)."""
    if args and args[0] in COMMANDS:
        return (args[0],)
    return tuple(COMMANDS)


def main() -> None:
    threads.prepare_environment()  # before a command imports torch (commands import it lazily)
    app = build_app(_invoked(sys.argv[1:]))
    try:
        app()
    except OpenRFTError as exc:
        if os.environ.get("OPENRFT_DEBUG"):
            raise
        print(f"openrft: error: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("openrft: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130 and not isinstance(exc, Interrupted):  # typer's silent Ctrl-C
            print("openrft: interrupted", file=sys.stderr)
        raise
