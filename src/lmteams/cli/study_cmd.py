"""`lmteams study compare`: project runs beside the study's medians."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmteams.analysis.study_compare import Comparison, compare, comparison_plot
from lmteams.cli.options import DbOption, JsonOption, out_option
from lmteams.cli.render import write_json
from lmteams.cli.session import open_store
from lmteams.cli.tables import Column, fitted_table


class StudyAction(StrEnum):
    compare = "compare"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_comparison(console: Console, comparison: Comparison) -> None:
    rows = comparison.rows
    table, dropped = fitted_table(
        [
            Column("condition", [r.condition for r in rows], justify="left"),
            Column("topology", [r.topology for r in rows], justify="left"),
            Column("n", [str(r.workers) for r in rows]),
            Column("kept", [f"{r.kept}/{r.runs}" for r in rows]),
            Column("speedup", [_num(r.speedup) for r in rows]),
            Column("study", [_num(r.study_speedup) for r in rows]),
            Column("tokens", [_num(r.tokens, 0) for r in rows], priority=3),
            Column("study tok", [_num(r.study_tokens, 0) for r in rows], priority=4),
            Column("refused", [_num(r.claims_refused, 0) for r in rows], priority=2),
            Column("study ref", [_num(r.study_claims_blocked, 0) for r in rows], priority=2),
            Column(
                "suite ok",
                [f"{r.suite_passed}/{r.suite_runs}" if r.suite_runs else "-" for r in rows],
                priority=1,
            ),
            Column(
                "study ok",
                ["-" if r.study_success is None else f"{r.study_success:.0%}" for r in rows],
                priority=1,
            ),
        ],
        width=console.width,
    )
    console.print(table)
    if dropped:
        console.print(f"[dim]left out at this width: {', '.join(dropped)}[/]")
    console.print(
        f"[dim]speedup: mean n = 1 makespan of the same project and topology in this log / "
        f"the run's, median over runs that finished ({comparison.excluded} not counted); "
        f"study: {comparison.data}[/]"
    )


def study_command(
    action: Annotated[StudyAction, typer.Argument(help="compare: runs beside the study.")],
    runs: Annotated[list[str], typer.Argument(help="Project runs (ids or unique prefixes).")],
    data: Annotated[
        Path,
        typer.Option("--data", help="The study's data folder (runs.parquet)."),
    ] = Path("../shared/paper/data"),
    tasks: Annotated[
        Path | None,
        typer.Option("--tasks", help="The study's task files (default: DATA/../tasks)."),
    ] = None,
    out: Annotated[Path | None, out_option("Also write the speedup plot to this PNG.")] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Set project runs beside the study's medians: speedup per n, tokens, refused claims and
    the test outcome, by study project (suite and p), topology and n.

    A run is matched to the study's project by its task file; its speedup is against the n = 1
    runs of the same project and topology in the event log, over runs that finished.

    Example: lmteams study compare RUN1 RUN2 RUN3 --out compare.png
    """
    store = open_store(db, read_only=True)
    comparison = compare(store, runs, data, tasks)
    if out is not None:
        comparison_plot(comparison, out)
    if json_output:
        write_json(comparison)
        return
    console = Console()
    print_comparison(console, comparison)
    if out is not None:
        console.print(f"[dim]plot: {out}[/]")


COMMANDS = [("study", study_command, 45)]
