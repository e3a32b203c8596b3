"""The `lmteams` command: a typer app whose commands live in one module each.

Every module ``lmteams/cli/*_cmd.py`` defines ``COMMANDS``: a list of ``(name, function,
order)``. They are discovered here, so adding a command never edits this file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import typer

import lmteams.cli
from lmteams.cli.errors import fail, internal
from lmteams.cli.usage import OneLineUsage
from lmteams.errors import LMTeamsError

app = typer.Typer(
    name="lmteams",
    cls=OneLineUsage,
    help=(
        "Run teams of language models as distributed systems: nodes with roles, typed "
        "messages, a durable event log, scheduling, consensus and fault tolerance.\n\n"
        'Start with: lmteams ask "What is 17 + 25?"'
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def discover() -> list[tuple[str, Callable[..., Any], int]]:
    found: list[tuple[str, Callable[..., Any], int]] = []
    for module in pkgutil.iter_modules(lmteams.cli.__path__):
        if module.name.endswith("_cmd"):
            loaded = importlib.import_module(f"lmteams.cli.{module.name}")
            found.extend(getattr(loaded, "COMMANDS", []))
    return sorted(found, key=lambda c: (c[2], c[0]))


def reflowed(doc: str | None) -> str | None:
    """A docstring as help text: each prose paragraph one line, so the terminal wraps it evenly.

    Typer keeps the docstring's own line breaks, which then wrap raggedly at 80 columns.
    Paragraphs with an indented line (examples, tables) keep their lines.
    """
    if doc is None:
        return None
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(
        p if any(line.startswith((" ", "\b")) for line in p.splitlines()) else " ".join(p.split())
        for p in paragraphs
    )


for _name, _function, _order in discover():
    app.command(_name, help=reflowed(_function.__doc__))(_function)


def main() -> None:
    try:
        app()
    except LMTeamsError as exc:
        fail(exc)
    except Exception as exc:  # a bug: one line and exit 1, not a page of traceback
        internal(exc)


if __name__ == "__main__":
    main()
