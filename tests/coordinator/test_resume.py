"""Crash and resume: nothing completed is paid for twice, nothing logged is lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmteams.coordinator.resume import resume_project
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import Script
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import ProjectSpec, load_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY

REPO = Path(__file__).resolve().parents[2]


def files_of(workspace: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(Path(workspace).iterdir())}


@dataclass
class Stopped:
    store: EventStore
    run_id: str
    backends: dict[str, ModelBackend]
    calls_before: int  # calls the model answered before the stop
    committed: int  # call results committed before the stop


async def stopped_midway(
    tmp_path: Path,
    project: ProjectSpec,
    settings: RunSettings,
    script: Script,
    workers: int,
    *,
    done: int = 7,
    event: str = "task_done",
    virtual: bool = True,
) -> Stopped:
    """``project`` run with scripted models (1 s a call, in virtual time; ``virtual=False``:
    instant calls in real time, for checks, whose time limits a virtual clock would spend at
    once) into ``crash.db``, its files in ``files/``, and cancelled mid-flight once ``done``
    ``event`` events (tasks done) are in the log."""
    spec, backends = scripted_team(workers, script, latency_s=1.0 if virtual else 0.0)
    store = EventStore(tmp_path / "crash.db")
    chosen = settings.model_copy(update={"workdir": str(tmp_path / "files")})
    with VirtualClock() if virtual else contextlib.nullcontext():
        task = asyncio.ensure_future(run_project(spec, project, store, chosen, backends=backends))
        await asyncio.sleep(0)
        while not task.done() and len(store.events(store.runs()[0].run_id, types=[event])) < done:
            await asyncio.sleep(0.25 if virtual else 0.001)
        assert not task.done(), "the run ended before it could be stopped"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run_id = store.runs()[0].run_id
    committed = len(store.call_results(run_id))
    assert committed > 0
    calls = backends["scripted"].calls  # type: ignore[attr-defined]
    return Stopped(store, run_id, backends, calls, committed)


def check_log_integrity(store: EventStore, run_id: str, tasks: int) -> None:
    events = store.events(run_id)
    ids = [e.data["id"] for e in events if e.type == "message"]
    assert len(ids) == len(set(ids)), "a message was logged twice"
    done = Counter(e.data["task"] for e in events if e.type == "task_done")
    assert len(done) == tasks and set(done.values()) == {1}, "every task completes exactly once"
    attempts = Counter(
        (e.data["task"], e.data["attempt"]) for e in events if e.type == "task_attempt"
    )
    assert set(attempts.values()) == {1}, "an attempt was logged twice"


@pytest.mark.parametrize("topology", ["steal", "decentralized", "lead"])
async def test_resume_after_the_coordinator_dies_mid_run(tmp_path: Path, topology: str) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))
    settings = RunSettings(topology=topology, workers=3)
    workers = 3 + (topology == "lead")

    # the uninterrupted run
    spec, clean = scripted_team(workers, project_script, latency_s=1.0)
    with EventStore(tmp_path / "clean.db") as store, VirtualClock():
        expected = await run_project(spec, project, store, settings, backends=clean)
        expected_files = files_of(expected.workspace)

    # the same run, writing its files to a chosen directory, killed after a few tasks
    stopped = await stopped_midway(tmp_path, project, settings, project_script, workers)
    store, run_id, backends = stopped.store, stopped.run_id, stopped.backends
    before, committed = stopped.calls_before, stopped.committed
    assert committed < clean["scripted"].calls  # type: ignore[attr-defined]

    seen: list[tuple[int, int]] = []
    with VirtualClock():
        result = await resume_project(
            store, run_id, backends=backends, progress=lambda *p: seen.append(p)
        )
    after = backends["scripted"].calls - before  # type: ignore[attr-defined]
    assert result.status == "done" and Path(result.workspace) == tmp_path / "files"
    # progress counts the tasks finished (those done before the kill as the log is replayed),
    # up to all 20
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (20, 20) and {t for _, t in seen} == {20}
    assert files_of(result.workspace) == expected_files
    # every committed call was replayed; only what never finished was sent (every call is
    # keyed: each one sent commits a new key, a committed call sent again would add none; the
    # clean run's count is no measure, as ties between equal virtual times can fall otherwise)
    assert after == len(store.call_results(run_id)) - committed
    check_log_integrity(store, run_id, 20)
    store.close()


async def test_resume_refuses_finished_and_foreign_runs(store: EventStore) -> None:
    spec, backends = scripted_team(2, project_script)
    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    result = await run_project(spec, project, store, RunSettings(workers=2), backends=backends)
    with pytest.raises(ConfigError, match="already finished"):
        await resume_project(store, result.run_id, backends=backends)
    other = store.new_run("ask")
    with pytest.raises(ConfigError, match="not a project run"):
        await resume_project(store, other)


TEAM = """
name: counting
models:
  m: {backend: scripted, script: "tests.fixtures.counting:SCRIPT", latency_s: 0.25}
defaults: {model: m, max_concurrent: 1}
nodes: [{name: w1}, {name: w2}, {name: w3}]
"""


@pytest.mark.parametrize("harness", ["lmteams", "rounds"])
def test_sigkill_then_resume(tmp_path: Path, harness: str) -> None:
    """A real process killed with SIGKILL mid-run, then `lmteams resume`: under the lmteams
    harness (one call per task attempt) and in the study's synchronous rounds."""
    in_rounds = harness == "rounds"
    project = next(
        p for p in STUDY if p.stem == ("mathutilities20_p05" if in_rounds else "dataanalysis_p09")
    )
    (tmp_path / "team.yaml").write_text(TEAM.replace("SCRIPT", "rounds" if in_rounds else "script"))
    calls = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LMTEAMS_TEST_CALL_LOG": str(calls),
        "COLUMNS": "150",
    }
    db = tmp_path / "lmteams.db"
    cmd = [
        sys.executable,
        "-m",
        "lmteams.cli.app",
        "run",
        str(project),
        "--team",
        "team.yaml",
        "--topology",
        "decentralized" if in_rounds else "steal",
        "--harness",
        harness,
        "--workers",
        "3",
        "--db",
        str(db),
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    run_id = None
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not db.exists():
            continue
        try:
            conn = sqlite3.connect(db)
            row = conn.execute("SELECT run_id FROM runs").fetchone()
            done = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'task_done'").fetchone()[
                0
            ]
            conn.close()
        except sqlite3.Error:
            continue
        if row and done >= 6:
            run_id = row[0]
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert run_id is not None, proc.stderr.read().decode() if proc.stderr else ""

    conn = sqlite3.connect(db)
    status = conn.execute("SELECT status FROM runs").fetchone()[0]
    committed_before = conn.execute("SELECT COUNT(*) FROM call_results").fetchone()[0]
    conn.close()
    assert status == "running"  # nobody got to mark it: the process died
    first_pid = str(proc.pid)
    made_before = [line.split() for line in calls.read_text().splitlines()]
    assert made_before and all(pid == first_pid for pid, _, _ in made_before)

    resume = subprocess.run(
        [sys.executable, "-m", "lmteams.cli.app", "resume", run_id, "--db", str(db), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resume.returncode == 0, resume.stderr
    outcome = json.loads(resume.stdout)
    assert outcome["status"] == "done"
    if in_rounds:
        # the rounds are played again over the log: every committed call answered from it
        assert outcome["replayed"] == committed_before
    else:
        # tasks already done are not redone at all; only in-flight ones re-run, their
        # committed calls replayed from the log
        assert outcome["replayed"] <= 3

    lines = [line.split() for line in calls.read_text().splitlines()]
    after = [(node, digest) for pid, node, digest in lines if pid != first_pid]
    before_keys = {(node, digest) for pid, node, digest in lines if pid == first_pid}
    # calls whose results were committed are never made again; at most the calls that were in
    # flight when the process died (one per worker) are made a second time
    repeated = [c for c in after if c in before_keys]
    assert len(repeated) <= len(before_keys) - committed_before
    if in_rounds:
        assert len(repeated) <= 3  # at most the round in flight: one call per worker
    else:
        assert len(lines) - len(repeated) == 20  # one completed call per task, 20 tasks

    with EventStore(db) as store:
        check_log_integrity(store, run_id, 20)
        assert store.run(run_id).status == "done"
        started = Counter(e.data["round"] for e in store.events(run_id, types=["round_start"]))
        assert (not started) != in_rounds and set(started.values()) <= {1}
    workspace = tmp_path / "runs" / run_id / "workspace"
    assert sorted(p.name for p in workspace.iterdir()) == sorted(
        f for t in load_project(project).tasks for f in t.files
    )
