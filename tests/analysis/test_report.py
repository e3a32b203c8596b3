"""Reports of real runs, sweeps and simulations: the same figures, one self-contained page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lmteams.analysis.report import (
    message_pairs,
    p_from_amdahl,
    report,
    simulated_pairs,
)
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.coordinator.sweep import sweep, write_table
from lmteams.errors import ConfigError, RunNotFound
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import load_project
from lmteams.sim.engine import simulate
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings
from lmteams.sim.summary import run_grid
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY

PNG = b"\x89PNG"


def embedded_images(page: Path) -> list[bytes]:
    text = page.read_text()
    images = []
    for chunk in text.split("data:image/png;base64,")[1:]:
        images.append(base64.b64decode(chunk.split("'", 1)[0]))
    return images


def project() -> object:
    return load_project(next(p for p in STUDY if p.stem == "dataanalysis_p05"))


async def test_report_of_a_project_run(store: EventStore, tmp_path: Path) -> None:
    spec, backends = scripted_team(3, project_script, latency_s=1.0)
    with VirtualClock():
        result = await run_project(
            spec,
            project(),
            store,
            RunSettings(topology="decentralized", workers=3),
            backends=backends,  # type: ignore[arg-type]
        )
        base = await run_project(
            spec,
            project(),
            store,
            RunSettings(topology="decentralized", workers=1),
            backends=backends,  # type: ignore[arg-type]
        )
    out = tmp_path / "report"
    written = report(result.run_id, out, store=store, baseline=base.run_id)
    names = {p.name for p in written}
    assert names == {"gantt.png", "messages.png", "report.html"}
    page = (out / "report.html").read_text()
    assert "speedup" in page and "claims refused" in page and "DAG lower bound" in page
    images = embedded_images(out / "report.html")
    assert len(images) == 2 and all(i.startswith(PNG) for i in images)
    pairs = message_pairs(store.events(result.run_id))
    assert pairs[("coordinator", "n0")] == pairs[("n0", "coordinator")] > 0


async def test_report_of_a_consensus_run(store: EventStore, tmp_path: Path) -> None:
    spec, backends = scripted_team(3, lambda call: "Answer: 4")
    result = await ask(spec, "What is 2 + 2?", store, backends=backends)
    written = report(result.run_id, tmp_path / "ask", store=store)
    assert {p.name for p in written} == {"messages.png", "agreement.png", "report.html"}
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
    assert {
        "speedup.png",
        "tokens.png",
        "gantt-steal.png",
        "messages-steal.png",
        "report.html",
    } <= names
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
    assert names == {
        "speedup.png", "tokens.png", "gantt-steal.png", "gantt-decentralized.png",
        "messages-steal.png", "messages-decentralized.png", "report.html",
    }  # fmt: skip
    page = (tmp_path / "r" / "report.html").read_text()
    assert "95% CI" in page and "Amdahl" in page and "DAG bound" in page
    assert len(embedded_images(tmp_path / "r" / "report.html")) == 6


def test_simulated_message_pairs_match_the_calls() -> None:
    graph = project().graph()  # type: ignore[attr-defined]
    result = simulate(
        SimSettings(topology="decentralized", workers=3),
        SimInputs(graph, parse_latency("constant:1")),
    )
    pairs = simulated_pairs(result.metrics)
    assert sum(pairs.values()) == result.metrics.messages
    assert pairs[("coordinator", "n0")] == pairs[("n0", "coordinator")]


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
