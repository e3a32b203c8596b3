"""`lmteams report`: an HTML page and PNG figures for a run, a sweep or a simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmteams.cli.options import DbOption, JsonOption, out_option
from lmteams.cli.render import write_json


def report_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_SWEEP",
            help="A run id (or unique prefix), a sweep's --out folder, or a simulation's --out "
            "folder (or its sweep.json / simulation.json).",
        ),
    ],
    out: Annotated[
        Path | None, out_option("Folder for report.html and the PNGs. Default: report-NAME.")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="For one run: the n = 1 run its speedup is against. Default: the latest "
            "finished n = 1 run of the same project in the event log.",
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML report (figures embedded) and its PNG figures.

    A sweep or a simulation: median speedup against n with the Amdahl curve and the DAG bound,
    token cost against n, and a Gantt chart of one run per topology. One run: its metrics,
    the cost of each task (attempts, calls, tokens), a Gantt chart with its claims and lead
    calls beneath, its speedup against an n = 1 run of the same project (--baseline, else
    the latest finished one in the event log), the messages between nodes where they
    messaged each other, and the consensus vote split where it made decisions.

    Examples:

      lmteams report sweep-out

      lmteams simulate tiny-math -T steal,decentralized -o sim-out && lmteams report sim-out

      lmteams report run-2026... --baseline run-2025...
    """
    from lmteams.analysis.report import report
    from lmteams.cli.session import open_store

    path = Path(target)
    store = None if path.exists() and db is None else open_store(db, read_only=True)
    if path.exists() and store is None:
        default_db = Path(".lmteams/lmteams.db")
        if default_db.exists():
            store = open_store(default_db)
    name = path.name if path.exists() else target
    folder = out or Path(f"report-{name.replace('/', '_') or 'out'}")
    try:
        written = report(target, folder, store=store, baseline=baseline)
    finally:
        if store is not None:
            store.close()
    page = next(p for p in written if p.suffix == ".html")
    if json_output:
        write_json({"report": str(page), "files": [str(p) for p in written]})
        return
    Console().print(f"wrote {page} and {len(written) - 1} figures in {folder}")


COMMANDS = [("report", report_command, 33)]
