"""The `lmteams` command: a typer app whose commands live in one module each."""

from __future__ import annotations

import typer

from lmteams.cli.ask_cmd import ask_command
from lmteams.cli.errors import fail
from lmteams.cli.runs_cmd import export_command, runs_command, show_command
from lmteams.cli.serve_cmd import serve_model_command
from lmteams.errors import LMTeamsError

app = typer.Typer(
    name="lmteams",
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

app.command("ask")(ask_command)
app.command("runs")(runs_command)
app.command("show")(show_command)
app.command("export")(export_command)
app.command("serve-model")(serve_model_command)


def main() -> None:
    try:
        app()
    except LMTeamsError as exc:
        fail(exc)


if __name__ == "__main__":
    main()
