"""`openrft models`: the models this home can use, and importing one into it.

`list` shows the builtin, the known aliases, imported and fine-tuned models and the causal
LMs in the local Hugging Face cache (name, source, size, where). `add PATH_OR_ID` imports a
model directory, a `.gguf` file, a hub id (cache first, downloaded only when online) or an
alias into `OPENRFT_HOME/models/` and prints the name to use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from openrft.cli.render import console

app = typer.Typer(help="List the models this home can use; import one.", no_args_is_help=True)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="State root (default $OPENRFT_HOME or ./.openrft)."),
]


def _home(home: Path | None) -> Path:
    return home or Path(os.environ.get("OPENRFT_HOME", ".openrft"))


@app.command("list")
def list_command(home: Home = None) -> None:
    """Builtin, alias, imported, fine-tuned and Hugging Face cache models."""
    from openrft.models.library import listing

    table = Table("name", "source", "size", "where")
    for entry in listing(_home(home)):
        size = "-" if entry.size is None else _human(entry.size)
        table.add_row(escape(entry.name), entry.source, size, escape(entry.where))
    console.print(table)


@app.command("add")
def add_command(
    source: Annotated[str, typer.Argument(help="A model directory, .gguf file, hub id or alias.")],
    name: Annotated[str | None, typer.Option(help="The name to store it under.")] = None,
    home: Home = None,
) -> None:
    """Import a model into OPENRFT_HOME/models/ and print the name to use."""
    from openrft.models.library import add

    typer.echo(add(source, _home(home), name))


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
