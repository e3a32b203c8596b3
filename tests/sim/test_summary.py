from __future__ import annotations

import math

import pytest

from lmteams.scheduling.graph import TaskGraph
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings
from lmteams.sim.summary import Estimate, SimGrid, run_grid


def test_estimate_is_a_t_interval() -> None:
    estimate = Estimate.of([1.0, 2.0, 3.0])
    assert estimate.mean == 2.0 and estimate.median == 2.0
    half = 4.303 * 1.0 / math.sqrt(3)
    assert estimate.low == pytest.approx(2 - half) and estimate.high == pytest.approx(2 + half)
    assert Estimate.of([5.0]).low == 5.0
    assert math.isnan(Estimate.of([]).mean)
    assert estimate.pm(1) == f"2.0±{half:.1f}" and Estimate.of([5.0]).pm(1) == "5.0"


def test_grid_includes_the_baseline_and_reports_every_figure() -> None:
    graph = TaskGraph.build([(f"t{i}", [] if i < 6 else [f"t{i - 6}"]) for i in range(12)])
    seen: list[tuple[str, int, int]] = []
    grid = run_grid(
        SimInputs(graph, parse_latency("lognormal:4,0.4")),
        SimSettings(),
        workers=[2, 4],
        topologies=["preassign", "decentralized"],
        reps=4,
        project="test",
        latency="lognormal:4,0.4",
        on_run=lambda t, n, r, result: seen.append((t, n, r)),
    )
    assert len(seen) == 2 * 3 * 4
    cells = {(c.topology, c.workers): c for c in grid.cells}
    assert set(cells) == {(t, n) for t in ("preassign", "decentralized") for n in (1, 2, 4)}
    base = cells[("preassign", 1)]
    assert base.speedup.mean == pytest.approx(1.0, abs=0.2) and base.amdahl == 1.0
    four = cells[("preassign", 4)]
    assert four.speedup.mean > 1.5 and four.dag_speedup == 4.0  # 12 / max(C = 2, 12 / 4)
    assert 0 < four.bound_ratio.mean <= 1.0
    assert four.idle_s.mean > 0 and four.done == 4
    assert cells[("decentralized", 4)].calls.mean > four.calls.mean  # claims are calls too
    assert set(grid.examples) == {f"{t}/{n}" for t, n in cells}
    assert grid.examples["preassign/4"].spans
    rows = grid.medians()
    assert {r["topology"] for r in rows} == {"preassign", "decentralized"}
    again = SimGrid.model_validate_json(grid.model_dump_json())
    assert again.cells == grid.cells
