"""`lmteams nodes`: a team's nodes with role, model, vote weight and estimated reliability."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lmteams.cli.options import DbOption, JsonOption, TeamOption
from lmteams.cli.render import write_json
from lmteams.cli.session import open_log_if_any
from lmteams.config import load_team


def nodes_command(
    team: TeamOption = None, json_output: JsonOption = False, db: DbOption = None
) -> None:
    """List the team's nodes: role, model, vote weight, sampling, and estimated reliability.

    Reliability is each node's accuracy as estimated by Dawid-Skene EM over the answers it gave
    to past questions (`--consensus learned`, `lmteams eval`), labels included where known. It
    reads "—" until the team has answered some questions that way.

    Example: lmteams nodes --team team.yaml
    """
    from lmteams.analysis.nodes import nodes_report

    spec = load_team(team)
    # A team not yet asked has no log: its nodes are listed all the same, none made for them.
    store = open_log_if_any(db)
    try:
        report = nodes_report(spec, store)
    finally:
        if store is not None:
            store.close()
    if json_output:
        write_json(report)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("node", "role", "model", "weight", "temp", "reliability", "answers seen"):
        table.add_column(column, justify="right" if column in ("weight", "temp") else "left")
    for row in report.nodes:
        table.add_row(
            row.node,
            row.role,
            f"{row.model} ({row.backend})",
            f"{row.weight:g}",
            f"{row.temperature:g}",
            f"{row.reliability:.2f}" if row.reliability is not None else "—",
            f"{row.answered} ({row.labeled_questions} labeled q.)" if row.answered else "",
        )
    console = Console()
    console.print(f"[bold]{report.team}[/]: {len(report.nodes)} nodes", highlight=False)
    console.print(table)
    if report.meta_model is not None:
        metrics = report.meta_model
        cv = metrics.get("cv_accuracy")
        console.print(
            f"meta-model: trained on {metrics.get('questions')} questions"
            + (f", cross-validated accuracy {cv:.1%}" if cv is not None else ""),
            highlight=False,
        )


COMMANDS = [("nodes", nodes_command, 30)]
