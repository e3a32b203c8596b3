"""Reports of real runs, sweeps and simulations: the same figures, one self-contained page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lmteams.analysis.report import (
    find_baseline,
    message_pairs,
    p_from_amdahl,
    peer_pairs,
    report,
)
from lmteams.analysis.task_costs import task_costs
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.coordinator.sweep import sweep, write_table
from lmteams.errors import ConfigError, ModelUnavailable, RunNotFound
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import load_project
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings
from lmteams.sim.summary import run_grid
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import project_script, scripted_team

from ..coordinator.rounds_script import actions, rounds_script
from ..scheduling.test_graph import STUDY
from .study_runs import study_project

PNG = b"\x89PNG"


def embedded_images(page: Path) -> list[bytes]:
    text = page.read_text()
    images = []
    for chunk in text.split("data:image/png;base64,")[1:]:
        images.append(base64.b64decode(chunk.split('"', 1)[0]))
    return images


def project() -> object:
    return load_project(next(p for p in STUDY if p.stem == "dataanalysis_p05"))


async def project_runs(store: EventStore, *workers: int, fail_last: bool = False) -> list[str]:
    """Scripted runs of the dataanalysis project, one per worker count, in virtual time."""
    spec, backends = scripted_team(3, project_script, latency_s=1.0)
    ids = []
    with VirtualClock():
        for n in workers:
            result = await run_project(
                spec,
                project(),
                store,
                RunSettings(topology="decentralized", workers=n),
                backends=backends,  # type: ignore[arg-type]
            )
            ids.append(result.run_id)
    return ids


async def test_report_of_a_project_run(store: EventStore, tmp_path: Path) -> None:
    run, base = await project_runs(store, 3, 1)
    out = tmp_path / "report"
    written = report(run, out, store=store, baseline=base)
    # the scripted run's nodes only talk to the coordinator: no message heat-map
    assert {p.name for p in written} == {"gantt.png", "report.html"}
    page = (out / "report.html").read_text()
    assert "speedup" in page and "claims refused" in page and "DAG lower bound" in page
    assert f"{base} (given)" in page
    images = embedded_images(out / "report.html")
    assert len(images) == 1 and images[0].startswith(PNG)
    pairs = message_pairs(store.events(run))
    assert pairs[("coordinator", "n0")] == pairs[("n0", "coordinator")] > 0
    assert peer_pairs(pairs) == {}


async def test_the_cost_of_each_task(store: EventStore, tmp_path: Path) -> None:
    [run] = await project_runs(store, 3)
    events = store.events(run)
    costs = {c.task: c for c in task_costs(events)}
    assert set(costs) == {t.id for t in project().tasks}  # type: ignore[attr-defined]
    for cost in costs.values():
        assert cost.calls >= 1 and cost.attempts >= 1 and cost.tokens > 0
    # every task call's tokens are in the table; what is left went to claims
    replies = [r for r in events if r.type == "message" and r.data.get("kind") == "reply"]
    total = sum(
        r.data["usage"]["prompt_tokens"] + r.data["usage"]["completion_tokens"] for r in replies
    )
    assert 0 < sum(c.tokens for c in costs.values()) <= total
    report(run, tmp_path / "r", store=store)
    page = (tmp_path / "r" / "report.html").read_text()
    assert "cost per task" in page and "attempts" in page
    first = next(iter(costs.values()))
    assert f"<td>{first.task}</td>" in page


async def test_the_n1_baseline_is_found_in_the_log(store: EventStore, tmp_path: Path) -> None:
    run, base = await project_runs(store, 3, 1)
    assert find_baseline(store, store.run(run)) == store.run(base)
    report(run, tmp_path / "r", store=store)
    page = (tmp_path / "r" / "report.html").read_text()
    assert f"{base} (found in the event log)" in page and "efficiency" in page


async def test_a_failed_run_never_feeds_a_speedup(store: EventStore, tmp_path: Path) -> None:
    spec, backends = scripted_team(3, lambda call: ModelUnavailable("down"))
    with VirtualClock():
        failed = await run_project(
            spec,
            project(),
            store,
            RunSettings(topology="decentralized", workers=1),
            backends=backends,  # type: ignore[arg-type]
        )
    assert store.run(failed.run_id).status != "done"
    [run] = await project_runs(store, 3)
    assert find_baseline(store, store.run(run)) is None
    report(run, tmp_path / "r", store=store)
    assert "No speedup" in (tmp_path / "r" / "report.html").read_text()


def test_only_messages_between_nodes_make_the_heat_map() -> None:
    pairs = {("coordinator", "a"): 3, ("a", "coordinator"): 3, ("a", "b"): 2, ("b", "b"): 1}
    assert peer_pairs(pairs) == {("a", "b"): 2}


def chatty(call: ScriptedCall) -> str:
    """The rounds agents of the coordinator tests, telling the others whenever they wait."""
    text = rounds_script(call)
    if text == actions({"action": "wait"}):
        return actions({"action": "message", "text": "waiting for work"}, {"action": "wait"})
    return text


async def test_a_rounds_run_shows_claims_and_peer_messages(
    store: EventStore, tmp_path: Path
) -> None:
    """Agents that message each other get the heat-map; claims show beneath the Gantt."""
    spec, backends = scripted_team(3, chatty, latency_s=1.0)
    with VirtualClock():
        result = await run_project(
            spec,
            study_project(),
            store,
            RunSettings(topology="decentralized", workers=3, harness="rounds"),
            backends=backends,
        )
    events = store.events(result.run_id)
    assert any(r.type == "claim" for r in events)
    pairs = peer_pairs(message_pairs(events))
    assert pairs and all("coordinator" not in pair for pair in pairs)
    written = report(result.run_id, tmp_path / "r", store=store)
    assert {"messages.png", "gantt.png"} <= {p.name for p in written}
    page = (tmp_path / "r" / "report.html").read_text()
    assert "claims granted or refused" in page and "Messages between nodes" in page


async def test_report_of_a_consensus_run(store: EventStore, tmp_path: Path) -> None:
    spec, backends = scripted_team(3, lambda call: "Answer: 4")
    result = await ask(spec, "What is 2 + 2?", store, backends=backends)
    written = report(result.run_id, tmp_path / "ask", store=store)
    assert {p.name for p in written} == {"agreement.png", "report.html"}
    assert all(p.read_bytes().startswith(PNG) for p in written if p.suffix == ".png")


async def test_report_of_a_sweep(store: EventStore, tmp_path: Path) -> None:
    spec, backends = scripted_team(3, project_script, latency_s=1.0)
    with VirtualClock():
        rows, _ = await sweep(
            spec,
            project(),  # type: ignore[arg-type]
            store,
            workers=[1, 3],
            topologies=["preassign", "steal"],
            reps=1,
            base=RunSettings(),
            backends=backends,
        )
    folder = tmp_path / "sweep-out"
    write_table(rows, folder)
    written = report(str(folder), tmp_path / "r", store=store)
    names = {p.name for p in written}
    assert {"speedup.png", "tokens.png", "gantt-steal.png", "report.html"} <= names
    # without the event log: the curves still, from the table alone
    alone = report(str(folder / "sweep.json"), tmp_path / "r2", store=None)
    assert {p.name for p in alone} == {"speedup.png", "tokens.png", "report.html"}


def test_report_of_a_simulation(tmp_path: Path) -> None:
    graph = project().graph()  # type: ignore[attr-defined]
    grid = run_grid(
        SimInputs(graph, parse_latency("lognormal:5,0.5")),
        SimSettings(),
        workers=[1, 2, 4],
        topologies=["steal", "decentralized"],
        reps=3,
        project="dataanalysis_p05",
        latency="lognormal:5,0.5",
    )
    folder = tmp_path / "sim"
    folder.mkdir()
    (folder / "simulation.json").write_text(grid.model_dump_json())
    written = report(str(folder), tmp_path / "r", store=None)
    names = {p.name for p in written}
    # simulated nodes only talk to the coordinator: no message heat-maps
    assert names == {
        "speedup.png", "tokens.png", "gantt-steal.png", "gantt-decentralized.png", "report.html",
    }  # fmt: skip
    page = (tmp_path / "r" / "report.html").read_text()
    assert "95% CI" in page and "Amdahl" in page and "DAG bound" in page
    assert len(embedded_images(tmp_path / "r" / "report.html")) == 4


def test_p_from_amdahl() -> None:
    assert p_from_amdahl(1 / (0.5 + 0.25), 2) == pytest.approx(0.5)


def test_report_errors(tmp_path: Path, store: EventStore) -> None:
    with pytest.raises(RunNotFound):
        report("no-such-run", tmp_path / "x", store=store)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no simulation.json or sweep.json"):
        report(str(empty), tmp_path / "x", store=None)
    (empty / "sweep.json").write_text(json.dumps([{"bad": 1}]))
    with pytest.raises(ConfigError, match="not a sweep table"):
        report(str(empty), tmp_path / "x", store=None)
