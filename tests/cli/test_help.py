"""`--help` reads well at 80 columns, and wide tables drop whole columns rather than cut cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from lmteams.cli.app import app, discover, reflowed
from lmteams.cli.tables import Column, fitted_table

COMMANDS = sorted(name for name, _, _ in discover())


def test_reflowed_joins_prose_lines_and_keeps_indented_blocks() -> None:
    doc = """Summary line.

    A paragraph written over
    two lines.

    Examples:

      lmteams run tiny-math
      lmteams run other
    """
    assert reflowed(doc) == (
        "Summary line.\n\nA paragraph written over two lines.\n\nExamples:\n\n"
        "  lmteams run tiny-math\n  lmteams run other"
    )
    assert reflowed(None) is None


@pytest.mark.parametrize("command", COMMANDS)
def test_help_at_80_columns_cuts_nothing(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output, f"{command} --help truncates a cell at 80 columns"
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_fitted_table_drops_least_important_columns_first() -> None:
    columns = [
        Column("topology", ["steal"], justify="left"),
        Column("n", ["1"]),
        Column("makespan s", ["233.6±34.6"]),
        Column("idle s", ["100.5"], priority=2),
        Column("gap s", ["100.5"], priority=1),
    ]
    _, dropped = fitted_table(columns, width=200)
    assert dropped == []
    _, dropped = fitted_table(columns, width=len("topology n makespan s gap s"))
    assert dropped == ["idle s"]
    _, dropped = fitted_table(columns, width=10)  # priority 0 columns are always kept
    assert dropped == ["idle s", "gap s"]


def test_simulate_table_keeps_its_n_column_at_80_columns() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "tiny-math", "-w", "1..2", "-r", "1"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("topology"))
    assert header.split()[:4] == ["topology", "n", "makespan", "s"]
    assert "…" not in result.output
    assert "left out at this width" in result.output


def _options(name: str) -> list[Any]:
    # Typer vendors its own click, so the classes are matched by what they are, not imported.
    sub = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return [p for p in sub.params if p.param_type_name == "option"]


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_flags_are_spelled_alike_by_every_command(command: str) -> None:
    # A user who learned -o or -t on one command can use it on the next.
    for option in _options(command):
        names = set(option.opts)
        if names & {"--out", "--output", "-o"}:
            assert names == {"--out", "--output", "-o"}, f"{command}: {sorted(names)}"
        if names & {"--team", "-t"}:
            assert names == {"--team", "-t"}, f"{command}: {sorted(names)}"
        if names & {"--topology", "-T"}:
            assert names == {"--topology", "-T"}, f"{command}: {sorted(names)}"


def test_output_alias_reaches_the_same_parameter(tmp_path: Path) -> None:
    written = tmp_path / "questions.jsonl"
    result = CliRunner().invoke(
        app, ["dataset", "--set", "basic", "-n", "3", "--out", str(written)]
    )
    assert result.exit_code == 0, result.output
    assert len(written.read_text(encoding="utf-8").splitlines()) == 3
