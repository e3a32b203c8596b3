"""Options shared by several commands (flag, then LMTEAMS_* environment variable, then default)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lmteams.cli.groups import option_group

if TYPE_CHECKING:
    from lmteams.runtime.base import Runtime

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="LMTEAMS_DB",
        help="Event-log database. Default: ./.lmteams/lmteams.db.",
        show_default=False,
    ),
]


def team_option(help: str, *, envvar: str | None = None) -> Any:
    """``--team`` / ``-t``: a team file or a shipped team's name, spelled alike by every command.

    Only commands that start a team read LMTEAMS_TEAM (``envvar``); one that resumes or
    overrides a recorded team must not pick up an unrelated one from the environment.
    """
    return typer.Option("--team", "-t", envvar=envvar, help=help, show_default=False)


def out_option(help: str) -> Any:
    """Where a command writes its files: ``--out``, ``--output`` or ``-o``, alike everywhere."""
    return typer.Option("--out", "--output", "-o", help=help)


def topology_option(help: str, *, shown_default: str | bool = True) -> Any:
    """``--topology`` / ``-T``: one topology, or a comma-separated list where a command compares."""
    return typer.Option("--topology", "-T", help=help, show_default=shown_default)


TeamOption = Annotated[
    str | None,
    team_option(
        "Team YAML file. Default: the shipped team (3 nodes on the embedded model).",
        envvar="LMTEAMS_TEAM",
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


SizesOption = Annotated[str, typer.Option("--workers", "-w", help="Team sizes: 1..5 or 1,2,4.")]


@option_group
class RuntimeFlags:
    """Where a command's nodes run: --runtime and, for Ray, --ray-address."""

    runtime: RuntimeOption = "local"
    ray_address: RayAddressOption = None

    def make(self) -> Runtime:
        """The runtime the flags name; a bad --runtime or --ray-address fails here."""
        from lmteams.runtime.factory import make_runtime

        return make_runtime(self.runtime, self.ray_address)

    @property
    def is_ray(self) -> bool:
        return self.runtime.strip().lower() == "ray"


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
