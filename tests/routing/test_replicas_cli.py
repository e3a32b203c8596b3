"""`roles.<role>.balance` through `lmteams ask` and `lmteams run`, as a user runs them: the
policy changes which replica serves (a slow scripted replica beside a fast one)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from tests.cli.test_cli import lmteams

from ..scheduling.test_graph import STUDY

ASK_TEAM = """
name: replicas
models:
  fast: {backend: scripted, script: "tests.routing.test_replicas_cli:split"}
  slow: {backend: scripted, script: "tests.routing.test_replicas_cli:split", latency_s: 0.3}
defaults: {max_concurrent: 1}
roles:
  solver: {balance: POLICY}
nodes:
  - {name: slow, role: solver, model: slow}
  - {name: fast, role: solver, model: fast}
"""

RUN_TEAM = """
name: replica-coders
models:
  m: {backend: scripted, script: "lmteams.testing:project_script"}
  slow: {backend: scripted, script: "lmteams.testing:project_script", latency_s: 0.3}
defaults: {model: m, max_concurrent: 1}
roles:
  coder: {balance: POLICY}
nodes:
  - {name: slow, role: coder, model: slow}
  - {name: fast, role: coder}
"""


def split(call: ScriptedCall) -> str:
    """Each replica has its own answer, so a vote shows who served it."""
    return {"slow": "Answer: 3", "fast": "Answer: 4"}[call.node or ""]


def env() -> dict[str, str]:
    return {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def team_file(tmp_path: Path, text: str, policy: str) -> Path:
    path = tmp_path / f"{policy}.yaml"
    path.write_text(text.replace("POLICY", policy))
    return path


@pytest.mark.parametrize("policy", ["least_outstanding", "round_robin"])
def test_ask_balances_a_replica_group(tmp_path: Path, policy: str) -> None:
    team = team_file(tmp_path, ASK_TEAM, policy)
    args = ("-c", "debate", "--rounds", "2", "--json", "--db", str(tmp_path / "log.db"))
    proc = lmteams("ask", "q", "-t", str(team), *args, cwd=tmp_path, env=env())
    assert proc.returncode == 0, proc.stderr
    nodes = {a["node"]: a for a in json.loads(proc.stdout)["nodes"]}
    if policy == "round_robin":  # in turn: each revision goes back to its own node
        assert {n: a["served_by"] for n, a in nodes.items()} == {"slow": None, "fast": None}
        assert {n: a["answer"] for n, a in nodes.items()} == {"slow": "3", "fast": "4"}
    else:
        # The revisions come after both replicas have answered once: least_outstanding now
        # knows `slow` is slow and sends slow's revision to `fast`, which answers 4.
        assert nodes["slow"]["served_by"] == "fast" and nodes["slow"]["answer"] == "4"


@pytest.mark.parametrize("policy", ["least_outstanding", "round_robin"])
def test_run_balances_a_replica_group(tmp_path: Path, policy: str) -> None:
    team = team_file(tmp_path, RUN_TEAM, policy)
    project = next(p for p in STUDY if p.stem == "mathutilities20_p05")
    db = tmp_path / "log.db"
    proc = lmteams(
        "run", str(project), "-t", str(team), "--topology", "steal", "-w", "2",
        "--db", str(db), "--json", cwd=tmp_path, env=env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["result"]["run_id"]
    store = EventStore(db)
    try:
        routes = store.events(run_id, types=["route"])
    finally:
        store.close()
    served = Counter(e.node for e in routes)
    assert sum(served.values()) >= 20  # one call per task at least, each one routed
    if policy == "round_robin":
        assert abs(served["slow"] - served["fast"]) <= 1  # in turn, whatever the speed
    else:
        assert served["slow"] * 3 < served["fast"]  # slow only while fast is busy
