"""`openrft`: the entry point. Each command group lives in its own module and registers here.

Errors that a person can fix (`OpenRFTError`) print as one line on stderr and exit 2;
nothing prints a traceback unless `OPENRFT_DEBUG=1`. Exit codes (docs/cli.md): 0 ok, 1 a
check failed, 2 a usage or input error, 130 interrupted.
"""

from __future__ import annotations

import os
import sys

import typer

from openrft import threads
from openrft.cli import data, demo, evals, grade, judge_check, models, review, serve, train
from openrft.cli.render import Interrupted
from openrft.errors import OpenRFTError

app = typer.Typer(
    name="openrft",
    help="Self-hosted reinforcement fine-tuning with OpenAI-compatible graders and jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: flags read as flags (no `<bool>`), wraps at any width
)
app.command("grade")(grade.grade_command)
app.command("demo")(demo.demo_command)
app.add_typer(data.app, name="data")
app.command("train")(train.train_command)
app.command("eval")(evals.eval_command)
app.command("gate")(evals.gate_command)
app.command("readiness")(evals.readiness_command)
app.command("audit")(evals.audit_command)
app.command("judge-check")(judge_check.judge_check_command)
app.add_typer(review.app, name="review")
app.command("serve")(serve.serve_command)
app.add_typer(models.app, name="models")


def main() -> None:
    threads.prepare_environment()  # before a command imports torch (commands import it lazily)
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
