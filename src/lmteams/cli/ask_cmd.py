"""`lmteams ask`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from lmteams.ask import AskResult, ask
from lmteams.cli.options import DbOption, JsonOption, TeamOption
from lmteams.cli.render import AskProgress, ask_result
from lmteams.cli.session import open_store, run_async
from lmteams.config import load_team
from lmteams.consensus.answers import EXTRACTORS


def ask_command(
    question: Annotated[str, typer.Argument(help="The question every node answers.")],
    team: TeamOption = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            "--nodes",
            "-n",
            min=1,
            max=4096,
            help="Use N nodes: the team's first N, or its nodes repeated with new seeds.",
        ),
    ] = None,
    answer: Annotated[
        str,
        typer.Option(
            "--answer",
            "-a",
            help=f"How to read each node's final answer: {', '.join(EXTRACTORS)}.",
        ),
    ] = "auto",
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Ask every node the same question at once and decide the team's answer by majority vote.

    Each node replies in its own role; its final answer is extracted and normalized (numbers,
    case, punctuation), and the most common answer wins. Ties are broken by team order and
    reported. Every message is logged: see `lmteams show RUN`.

    Example: lmteams ask "What is 17 + 25?" --nodes 5
    """
    spec = load_team(team)
    if nodes is not None:
        spec = spec.resized(nodes)
    store = open_store(db)
    console = Console()
    if json_output:
        result: AskResult = run_async(ask(spec, question, store, extractor=answer))
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    progress = AskProgress([(n.name, n.role) for n in spec.nodes])
    with Live(progress, console=console, refresh_per_second=8, transient=True):
        result = run_async(
            ask(spec, question, store, extractor=answer, on_progress=progress.update)
        )
    ask_result(console, result)


COMMANDS = [("ask", ask_command, 10)]
