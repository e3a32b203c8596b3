"""`lmteams resume RUN`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from lmteams.cli.groups import with_groups
from lmteams.cli.options import DbOption, JsonOption, RuntimeFlags, team_option
from lmteams.cli.render import clip, eval_table, line_due, write_json
from lmteams.cli.session import open_store, run_async
from lmteams.cli.trace_option import TraceOption, traced
from lmteams.config import load_team
from lmteams.resume import ResumeOutcome, resume_run


@with_groups
def resume_command(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of one.")],
    team: Annotated[
        str | None,
        team_option(
            "Team file to resume with (same node names). Default: the team the run "
            "started with, from its log; pass the file again when the team needs secrets."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Resume even if the run's coordinator seems alive."),
    ] = False,
    json_output: JsonOption = False,
    db: DbOption = None,
    nodes_on: RuntimeFlags = RuntimeFlags(),
    trace: TraceOption = None,
) -> None:
    """Continue a run whose coordinator died (Ctrl-C, a crash, even kill -9).

    Every model call the run completed was committed to the event log before it was used;
    resuming replays those from the log (never sending them again) and makes only the calls
    that never finished, so the run ends with the result an uninterrupted run would have had.
    Runs that failed, were cancelled or stopped at their budget can be resumed too (give a
    team file with a larger budget). Resumable kinds: ask, eval (its dataset file must still
    hold the same questions) and run (project runs), and any kind that registers a resumer
    (see docs/faults.md).

    Example: lmteams resume ask-20260101-120000-ab12cd
    """
    nodes_runtime = nodes_on.make()
    spec = load_team(team) if team else None
    store = open_store(db, read_only=True)
    with traced(store, trace, "") as traced_run:
        record = store.run(run_id)
        traced_run.run_id = record.run_id  # the whole run: one trace, both parts
        outcome: ResumeOutcome = run_async(
            resume_run(
                store,
                run_id,
                spec=spec,
                runtime=nodes_runtime,
                force=force,
                progress=progress_lines(record.run_id, UNITS.get(record.kind, "steps")),
            )
        )
    if json_output:
        write_json(outcome)
        return
    console = Console()
    style = {"done": "green", "failed": "red", "stopped": "yellow"}.get(outcome.status, "")
    status = f"[{style}]{outcome.status}[/]" if style else outcome.status
    console.print(
        f"[bold]{outcome.run_id}[/] · {outcome.kind} · {status} · "
        f"{outcome.replayed} completed calls replayed from the log, {outcome.new_calls} new calls"
    )
    result = outcome.result or {}
    if outcome.kind == "eval" and result:
        from lmteams.strategies.evaluation import EvalReport

        eval_table(console, EvalReport.model_validate(result))
        return
    for key in ("answer", "stopped", "error"):
        if result.get(key) is not None:  # a run that was not stopped stores stopped: None
            console.print(f"{key}: [bold]{clip(str(result[key]), 200)}[/]")


UNITS = {"run": "tasks", "eval": "answers"}  # what a kind's progress counts


def progress_lines(run_id: str, unit: str) -> Callable[[int, int], None]:
    """Progress of long resumed work on stderr (stdout keeps the result): a plain line about
    every 5% and at the end, so it reads the same in a terminal, a pipe or a log file."""
    console = Console(stderr=True, highlight=False)
    started = time.monotonic()
    shown = -1

    def report(done: int, total: int) -> None:
        nonlocal shown
        if done == shown or not line_due(done, total):
            return
        shown = done
        elapsed = time.monotonic() - started
        console.print(f"resuming {run_id}: {done}/{total} {unit}, {elapsed:.0f}s", markup=False)

    return report


COMMANDS = [("resume", resume_command, 30)]
