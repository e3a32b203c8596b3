"""Options shared by several commands (flag, then LMTEAMS_* environment variable, then default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="LMTEAMS_DB",
        help="Event-log database. Default: ./.lmteams/lmteams.db.",
        show_default=False,
    ),
]

TeamOption = Annotated[
    str | None,
    typer.Option(
        "--team",
        "-t",
        envvar="LMTEAMS_TEAM",
        help="Team YAML file. Default: the shipped team (3 nodes on the embedded model).",
        show_default=False,
    ),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON object instead.")
]

RuntimeOption = Annotated[
    str,
    typer.Option(
        "--runtime",
        envvar="LMTEAMS_RUNTIME",
        help="Where nodes run: local (this process) or ray (Ray actors; see docs/ray.md).",
    ),
]

RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        envvar="LMTEAMS_RAY_ADDRESS",
        help=(
            "With --runtime ray: join a running cluster, `auto` (started on this machine by "
            "`ray start --head`) or HOST:PORT of its head. Default: a private local cluster, "
            "stopped after the run."
        ),
        show_default=False,
    ),
]

ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        max=512,
        help=(
            "CPU threads for each embedded engine (overrides LMTEAMS_N_THREADS and team "
            "files). Default: the free cores (by load average) split among this process's engines."
        ),
        show_default=False,
    ),
]
