"""`lmteams demo`: each member alone beside the team, on questions where tools make the difference."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lmteams.cli.consensus_options import ConsensusOption
from lmteams.cli.options import DbOption, JsonOption, ThreadsOption, team_option
from lmteams.cli.render import write_json
from lmteams.cli.session import open_store, run_async
from lmteams.config import load_team
from lmteams.consensus.catalog import check_strategy
from lmteams.consensus.datasets import parse_dataset
from lmteams.limits import MAX_DATASET_BYTES, read_text
from lmteams.models.embedded import prepare_engines
from lmteams.showcase import Showcase, showcase


def _mark(correct: bool) -> str:
    return "[green]right[/]" if correct else "[red]wrong[/]"


def render(result: Showcase, console: Console) -> None:
    for item in result.items:
        table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
        table.title = f"{item.question}  (expected: {item.label})"
        for column in ("who", "model", "answer", ""):
            table.add_column(column)
        for m in item.members:
            table.add_row(m.who, m.model, m.answer or f"({m.error})", _mark(m.correct))
        table.add_row(
            "[bold]team[/]", result.strategy, item.team.answer or "(none)", _mark(item.team.correct)
        )
        console.print(table)
        if item.evidence is not None:
            console.print(
                f"  evidence: {item.evidence.node}'s program printed {item.evidence.printed!r}:"
            )
            for line in item.evidence.program.strip().splitlines()[:12]:
                console.print(f"    {line}", highlight=False, markup=False)
        console.print()
    total = len(result.items)
    scores = ", ".join(f"{who} {result.right(who)}/{total}" for who in result.members)
    console.print(
        f"[bold]right answers[/]: {scores}; [bold]team ({result.strategy}) "
        f"{result.right('team')}/{total}[/] · {result.wall_s:.0f} s · every call is in the event "
        "log (`lmteams runs`)"
    )


def demo_command(
    team: Annotated[
        str, team_option("Team file or shipped team; default: teamwork (three models).")
    ] = "teamwork",
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            "-q",
            help='JSON Lines of {"question": ..., "answer": ...}. Default: four shipped ones.',
            show_default=False,
        ),
    ] = None,
    consensus: ConsensusOption = None,
    threads: ThreadsOption = None,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a team beating its members: each model alone, then the team, question by question.

    Each node answers every question alone (greedy), then the team answers with its strategy;
    answers are scored as `lmteams eval` scores them. The shipped `teamwork` team puts
    SmolLM2-135M, Qwen2.5-Coder-0.5B and Qwen2.5-Coder-1.5B together; with `program`, its two
    coders write programs that run in the sandbox and their printed results vote. Progress is
    printed one line a step; the program behind the team's answer is shown as evidence.

    Example: lmteams demo, or lmteams demo --questions mine.jsonl --consensus majority
    """
    spec = load_team(team)
    prepare_engines(spec, threads)
    if consensus is not None:
        check_strategy(consensus, field="--consensus")
    source = str(questions) if questions else "shipped showcase questions"
    text = (
        read_text(questions, max_bytes=MAX_DATASET_BYTES)
        if questions
        else resources.files("lmteams.data").joinpath("showcase.jsonl").read_text()
    )
    items = parse_dataset(text, source=source)
    console = Console()
    progress = Console(stderr=json_output, highlight=False)
    with open_store(db) as store:
        result = run_async(
            showcase(spec, items, store, strategy=consensus, on_step=lambda s: progress.print(s))
        )
    if json_output:
        write_json(result)
        return
    console.print()
    render(result, console)


COMMANDS = [("demo", demo_command, 5)]
