"""Every command the README shows, run as a user would run it, on a small setup in a temp dir.

The README's ``bash`` blocks are parsed; each line is one case. Its placeholders (``RUN``,
``RUN1 RUN2 ...``, ``my-team.yaml``, ``data.jsonl``, ``docs/``) are filled by the setup, and
``LMTEAMS_TEAM`` points the commands that would load the embedded model at a scripted team,
so the commands themselves run unchanged. The few that need a real model or start a server
get their own check below; a line no case knows is still run, so a new README command is
never passed over.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from lmteams.state.store import EventStore
from lmteams.testing import VirtualClock

from .analysis.study_runs import scripted_run, study_project
from .test_resume import interrupted_ask, team

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"  # the README's ../shared/paper/...: the study's files

# A scripted team standing in for the embedded model: as coders and a lead it writes a trivial
# module per task and hands tasks out (lmteams.testing.project_script); asked a question, it
# answers 42.
SCRIPT = """
from lmteams.testing import project_script


def reply(call):
    text = project_script(call)
    return "Answer: 42" if text == "done" else text
"""
TEAM = """
name: my-team
models:
  m: {backend: scripted, script: "readme_script.py:reply"}
defaults: {model: m}
nodes:
  - {name: w1, role: solver}
  - {name: w2, role: critic}
  - {name: w3, role: responder}
  - {name: w4, role: solver}
  - {name: boss, role: lead}
"""

# Lines that are not lmteams commands, each with why no test runs it.
EXEMPT = {
    "make demo": "a make target: it installs the models, then runs `lmteams demo` (tested below)",
    "make test": "a make target: it is this test suite (with ruff and mypy)",
    "source .venv/bin/activate": "the shell's venv activation; the tests run the venv's lmteams",
}


@dataclass(frozen=True)
class Line:
    text: str  # as the README shows it, comment dropped
    argv: tuple[str, ...]
    before: tuple[str, ...] = field(default=())  # "# after: CMD" in the comment: run CMD first

    @property
    def command(self) -> str:
        return self.argv[1] if len(self.argv) > 1 else ""


def readme_lines() -> list[Line]:
    lines: list[Line] = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for raw in block.splitlines():
            text, _, comment = raw.partition("  #")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            after = re.search(r"after:\s*(lmteams .+)$", comment)
            lines.append(
                Line(
                    text.strip(),
                    tuple(shlex.split(text)),
                    tuple(shlex.split(after.group(1))) if after else (),
                )
            )
    return lines


LINES = readme_lines()


def test_the_readme_has_commands() -> None:
    commands = {line.command for line in LINES if line.argv[0] == "lmteams"}
    assert {"ask", "run", "advise", "report", "serve-team", "export", "eval"} <= commands


@dataclass
class Setup:
    cwd: Path
    run: str  # a finished project run (n = 2) of a study project
    single: str  # the n = 1 run of the same project
    interrupted: str  # an ask whose coordinator died

    def env(self) -> dict[str, str]:
        return {**os.environ, "COLUMNS": "160", "LMTEAMS_TEAM": str(self.cwd / "my-team.yaml")}

    def argv(self, line: Line, argv: tuple[str, ...] | None = None) -> list[str]:
        words = list(argv or line.argv)
        run = self.interrupted if line.command == "resume" else self.run
        filled = {"RUN": run, "RUN1": self.single, "RUN2": self.run}
        out = [filled.get(w, w) for w in words if w != "..."]
        assert out[0] == "lmteams", line.text
        return [sys.executable, "-m", "lmteams.cli.app", *out[1:]]

    def call(self, line: Line, argv: tuple[str, ...] | None = None, timeout: float = 300):
        return subprocess.run(
            self.argv(line, argv),
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("readme")
    cwd = root / "main"
    cwd.mkdir()
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED)
    (cwd / "my-team.yaml").write_text(TEAM)
    (cwd / "readme_script.py").write_text(SCRIPT)
    shutil.copytree(ROOT / "docs", cwd / "docs")
    store = EventStore(cwd / ".lmteams" / "lmteams.db")
    try:
        single, run, interrupted = asyncio.run(_runs(store))
    finally:
        store.close()
    return Setup(cwd, run, single, interrupted)


async def _runs(store: EventStore) -> tuple[str, str, str]:
    spec, backend = team()
    with VirtualClock():
        interrupted = await interrupted_ask(store, spec, backend)  # the log's first run
    project = study_project()
    single = await scripted_run(store, project, "decentralized", 1)
    double = await scripted_run(store, project, "decentralized", 2)
    return single.run_id, double.run_id, interrupted


def assert_ran(proc: subprocess.CompletedProcess[str], line: Line, codes: set[int]) -> None:
    said = f"{line.text}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    assert proc.returncode in codes, said
    # stderr only: a failed task's check output (its test's traceback) is the run's result
    assert "Traceback" not in proc.stderr, said


# What each command leaves behind, beyond exiting cleanly without a traceback.
def _check_output(line: Line, proc: subprocess.CompletedProcess[str], cwd: Path) -> None:
    out = proc.stdout
    match line.command:
        case "ask":
            assert "Answer: 42" in out
        case "run":
            assert "run-" in out
        case "analyze":
            assert "recommended team size" in out
        case "simulate":
            assert "events in" in out
        case "advise":
            assert "recommend" in out.lower()
        case "sweep":
            assert (cwd / "sweep-out").is_dir()
        case "study":
            assert (cwd / "compare.png").stat().st_size > 0
        case "resume":
            assert "done" in out
        case "report":
            assert list((cwd / "report").glob("*.html"))
        case "eval":
            assert "majority" in out and "learned" in out
        case "index":
            assert (cwd / "docs.db").stat().st_size > 0
        case "export" if "parquet" in line.argv:
            assert {p.stem for p in (cwd / "tables").glob("*.parquet")} >= {"runs", "calls"}
        case "export" if "otlp" in line.argv:
            spans = [json.loads(s) for s in (cwd / "trace.jsonl").read_text().splitlines()]
            assert spans
        case "show" | "metrics" | "runs" | "nodes":
            assert out.strip()


# Exit codes other than 0 that a command may end with here, and why.
CODES = {
    # The scripted coders write placeholder modules: a project whose checks import real
    # functions ends partial (exit 4, see the README's exit codes); the run itself completed.
    "run": {0, 4},
}
SLOW = {"run", "sweep", "eval", "study", "demo"}  # several runs each, or the three models
SERVERS = {"serve-model", "serve-team", "mcp-serve"}


def _param(line: Line) -> object:
    marks = [pytest.mark.slow] if line.command in SLOW else []
    if line.command in {"demo", "serve-model"}:
        marks.append(pytest.mark.model)
    if line.command == "demo":  # three models on a busy 2-core machine: over 300 s
        marks.append(pytest.mark.timeout(1800))
    return pytest.param(line, marks=marks, id=line.text[:60])


def test_every_exemption_is_a_readme_line() -> None:
    """An exemption outlives its line only by mistake; every other line is run below."""
    assert set(EXEMPT) <= {line.text for line in LINES}


COMMANDS = [x for x in LINES if x.text not in EXEMPT and x.command not in SERVERS]


@pytest.mark.parametrize("line", [_param(x) for x in COMMANDS])
def test_readme_command(line: Line, setup: Setup) -> None:
    if "../shared/" in line.text and not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the study's task files the README names) is not here")
    if line.command == "demo":
        _demo(line, setup)
        return
    if line.before:
        first = setup.call(line, line.before)
        assert_ran(first, Line(" ".join(line.before), line.before), {0})
        if line.before[1] == "dataset":
            # one line saying what it wrote, and nothing else
            assert first.stdout == ""
            assert re.fullmatch(r"wrote \d+ questions to \S+\n", first.stderr), first.stderr
    proc = setup.call(line)
    assert_ran(proc, line, CODES.get(line.command, {0}))
    _check_output(line, proc, setup.cwd)


def _demo(line: Line, setup: Setup) -> None:
    """The real thing: three embedded models, each alone, then the team."""
    env = {k: v for k, v in setup.env().items() if k != "LMTEAMS_TEAM"}
    proc = subprocess.run(
        setup.argv(line), cwd=setup.cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode == 2 and "not installed" in proc.stderr:
        pytest.skip(f"lmteams demo needs all three models (make demo): {proc.stderr.strip()}")
    assert_ran(proc, line, {0})
    assert "team" in proc.stdout.lower()


SERVED = [x for x in LINES if x.command in SERVERS]


@pytest.mark.parametrize("line", [_param(x) for x in SERVED])
def test_readme_server(line: Line, setup: Setup) -> None:
    """Started as shown, answering, then stopped with Ctrl-C (SIGINT) as a user stops it."""
    if line.command == "mcp-serve":
        _mcp_stdio(line, setup)
        return
    env = setup.env()
    if line.command == "serve-model":
        env.pop("LMTEAMS_TEAM")
    proc = subprocess.Popen(
        setup.argv(line),
        cwd=setup.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()  # printed only once the server answers
        url = re.search(r"at (http://\S+?)(/v1)?(\s|$)", ready)
        assert url, ready + (proc.stderr.read() if proc.poll() is not None else "")
        base = url.group(1)
        health = httpx2.get(base + "/health", trust_env=False, timeout=30)
        assert health.status_code == 200
        models = httpx2.get(base + "/v1/models", trust_env=False, timeout=30).json()
        assert models["data"]
        if line.command == "serve-team":
            card = httpx2.get(base + "/.well-known/agent-card.json", trust_env=False).json()
            assert card["name"] == "my-team"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


def _mcp_stdio(line: Line, setup: Setup) -> None:
    """An MCP client's first request over stdio gets the server's answer; EOF ends it."""
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "readme-test", "version": "0"},
        },
    }
    proc = subprocess.Popen(
        setup.argv(line),
        cwd=setup.cwd,
        env=setup.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(hello) + "\n")
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    proc.stdin.close()  # EOF: the session is over
    proc.wait(timeout=60)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"], reply
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
