"""`lmteams ask`."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from lmteams.cli.consensus_options import ConsensusFlags, ConsensusOption
from lmteams.cli.errors import ask_exit_code
from lmteams.cli.groups import with_groups
from lmteams.cli.inject_option import InjectOption
from lmteams.cli.options import (
    DbOption,
    JsonOption,
    RuntimeFlags,
    TeamOption,
    ThreadsOption,
)
from lmteams.cli.render import AskProgress, ask_result, write_json
from lmteams.cli.session import open_store, run_async
from lmteams.cli.trace_option import TraceOption, traced
from lmteams.config import load_team
from lmteams.consensus.answers import EXTRACTORS
from lmteams.faults.injection.rules import apply_inject
from lmteams.models.embedded import prepare_engines
from lmteams.routing.roles import restrict_to_role
from lmteams.strategies.ask import ask, resolve
from lmteams.strategies.result import AskResult


@with_groups
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
            help=f"How to read each node's final answer: {', '.join(EXTRACTORS)}, json:FIELD.",
        ),
    ] = "auto",
    consensus: ConsensusOption = None,
    flags: ConsensusFlags = ConsensusFlags(),
    role: Annotated[
        str | None,
        typer.Option("--role", help="Ask only the nodes of this role (see `lmteams nodes`)."),
    ] = None,
    skill: Annotated[
        list[str] | None,
        typer.Option("--skill", help="...and only those with this skill (repeatable)."),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
    nodes_on: RuntimeFlags = RuntimeFlags(),
    inject: InjectOption = None,
    threads: ThreadsOption = None,
    trace: TraceOption = None,
) -> None:
    """Ask the team a question and decide its answer by a consensus strategy.

    Each node replies in its own role; its final answer is extracted and normalized (numbers,
    case, punctuation). By default the most common answer wins (ties broken by team order and
    reported); --consensus picks another way: weighted, confidence, quorum (Byzantine 2f+1, or
    an explicit "no consensus"), judge, debate, moa, learned, adaptive, cascade. The answer is
    shown with what it cost: calls, tokens and wall time. Every message is logged: see
    `lmteams show RUN`.

    Example: lmteams ask "What is 17 + 25?" --nodes 5 --consensus debate --rounds 2

    Exit codes: 0 an answer, 3 no consensus (nodes answered, no answer won), 4 every node
    failed, 2 bad input, 1 internal error, 130 interrupted.
    """
    nodes_runtime = nodes_on.make()
    spec = load_team(team)
    if role is not None or skill:
        spec = restrict_to_role(spec, role, skill or ())
    if nodes is not None:
        spec = spec.resized(nodes)
    spec = apply_inject(spec, inject or [])
    prepare_engines(spec, threads)
    given = flags.overrides()
    strategy, settings = resolve(spec, consensus, given)  # bad flags fail before any work
    store = open_store(db)
    console = Console()
    progress = None if json_output else AskProgress([(n.name, n.role) for n in spec.nodes])
    live = (
        Live(progress, console=console, refresh_per_second=8, transient=True)
        if progress is not None
        else nullcontext()
    )
    with traced(store, trace, "ask") as traced_run, live:
        result: AskResult = run_async(
            ask(
                spec,
                question,
                store,
                consensus=strategy,
                options=settings,
                extractor=answer,
                on_progress=progress.update if progress is not None else None,
                runtime=nodes_runtime,
            )
        )
        traced_run.run_id = result.run_id
    if json_output:
        write_json(result)
    else:
        ask_result(console, result)
    code = ask_exit_code(result)
    if code:
        raise typer.Exit(code)


COMMANDS = [("ask", ask_command, 10)]
