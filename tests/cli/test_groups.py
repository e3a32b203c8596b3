"""Option groups: shared flags declared once, spread into each command that takes the group."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.testing import CliRunner

from lmteams.cli.groups import option_group, with_groups

LevelOption = Annotated[int, typer.Option("--level", min=0, max=9, help="How loud.")]
NameOption = Annotated[str, typer.Option("--name", help="Who.")]


@option_group
class Volume:
    level: LevelOption = 3
    muted: Annotated[bool, typer.Option("--muted", help="Say nothing.")] = False


seen: list[tuple[str, Volume, int]] = []


@with_groups
def speak(name: NameOption = "you", volume: Volume = Volume(), times: int = 1) -> None:
    """Speak to someone."""
    seen.append((name, volume, times))


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("speak")(speak)
    cli.command("other")(lambda: None)  # two commands: "speak" stays a subcommand
    return cli


def test_the_groups_flags_arrive_as_one_object() -> None:
    seen.clear()
    result = CliRunner().invoke(app(), ["speak", "--name", "ada", "--level", "7", "--muted"])
    assert result.exit_code == 0, result.output
    assert seen == [("ada", Volume(level=7, muted=True), 1)]
    seen.clear()
    assert CliRunner().invoke(app(), ["speak", "--times", "2"]).exit_code == 0
    assert seen == [("you", Volume(), 2)]


def test_help_lists_the_flags_in_the_groups_place() -> None:
    text = CliRunner().invoke(app(), ["speak", "--help"], terminal_width=100).output
    assert "Speak to someone." in text
    positions = [text.index(flag) for flag in ("--name", "--level", "--muted", "--times")]
    assert positions == sorted(positions)
    assert "How loud." in text


def test_a_groups_flag_is_checked_as_any_flag() -> None:
    result = CliRunner().invoke(app(), ["speak", "--level", "12"])
    assert result.exit_code == 2 and "--level" in result.output


def test_the_command_is_still_callable_with_the_group() -> None:
    seen.clear()
    speak(name="bo", level=1, muted=False, times=3)
    assert seen == [("bo", Volume(level=1), 3)]
