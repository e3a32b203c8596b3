"""`lmteams serve-model` flags: each bad one is one line and exit code 2, before any model loads."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_clean_error, lmteams


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("--max-tokens", "0", "--max-tokens: input should be greater than or equal to 1"),
        ("--max-concurrent", "0", "--max-concurrent: input should be greater than"),
        ("--max-body-bytes", "10", "--max-body-bytes: input should be greater than"),
        ("--max-prompt-tokens", "-5", "--max-prompt-tokens: input should be greater than"),
    ],
)
def test_a_limit_out_of_range_is_one_line(
    tmp_path: Path, flag: str, value: str, fragment: str
) -> None:
    proc = lmteams("serve-model", "--port", "0", flag, value, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, fragment)


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = lmteams("serve-model", "--port", port, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, f"--port: port {port} on 127.0.0.1 is already in use")
    assert "serving" not in proc.stdout


def test_an_unknown_team_model_is_one_line(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        "name: t\nmodels:\n  m: {backend: scripted, default: 'x'}\nnodes:\n  - {name: a, role: r}\n"
    )
    proc = lmteams("serve-model", "--team", str(team), "--model", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, "--model: unknown model 'nope'")
    scripted = lmteams("serve-model", "--team", str(team), "--model", "m", cwd=tmp_path)
    assert_clean_error(scripted, "is not an embedded model")


def test_help_names_every_limit(tmp_path: Path) -> None:
    proc = lmteams("serve-model", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for word in (
        "--max-body-bytes",
        "--max-prompt-tokens",
        "--max-tokens",
        "--max-concurrent",
        "429",
        "Example",
    ):
        assert word in proc.stdout
