"""`lmteams serve-model` and `serve-team`: bad flags are one line and exit code 2; a served team answers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import openai
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


@pytest.mark.parametrize("command", ["serve-model", "serve-team"])
def test_help_names_every_limit(tmp_path: Path, command: str) -> None:
    proc = lmteams(command, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for word in (
        "--max-body-bytes",
        "--max-prompt-tokens",
        "--max-tokens",
        "--max-concurrent",
        "--api-key",
        "Example",
    ):
        assert word in proc.stdout


TEAM = """
name: sums
models:
  m: {backend: scripted, answers: {"2 + 2": "Answer: 4"}, default: "Answer: 0"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
"""


def test_serve_team_answers_the_openai_client_and_logs_an_ask_run(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmteams.cli.app", "serve-team", "-t", str(team), "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        match = re.search(r"serving sums at (http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line + proc.stderr.read()
        client = openai.OpenAI(base_url=match.group(1), api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="sums", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    assert reply.choices[0].message.content == "4"
    run_id = reply.model_extra["lmteams"]["run_id"]
    shown = lmteams("show", run_id, cwd=tmp_path)
    assert shown.returncode == 0 and run_id in shown.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--consensus", "nope"), "nope"),
        (("--max-tokens", "0"), "--max-tokens"),
        (("--host", "0.0.0.0"), "--api-key"),
        (("--answer", "json:"), "json"),
    ],
)
def test_serve_team_bad_flags_are_one_line(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    proc = lmteams("serve-team", "-t", str(team), "--port", "0", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert_clean_error(proc, fragment)
