"""Replaying the study's conditions in the simulator and comparing with what it observed.

The study ran three suites x three p x n = 1..5 x two modes (pre-assigned, dependency chains
dealt round-robin to agents; decentralized, agents claiming from a shared list) with three
models. Speedup there: the mean wall time at n = 1 in the same mode, model, suite and p,
divided by a run's wall time; the table reports medians over successful runs. The replay does
the same with simulated runs under the rounds harness (:mod:`lmteams.sim.rounds`), each model
calibrated from the study's own logs.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from lmteams.errors import ConfigError
from lmteams.scheduling.graph import amdahl
from lmteams.scheduling.project import load_project
from lmteams.sim.calibration import Calibration
from lmteams.sim.engine import simulate
from lmteams.sim.latency import calibrated_latency, calibrated_tokens
from lmteams.sim.setup import SimInputs, SimSettings, SimTeam

SUITES = ("mathutilities20", "dataanalysis", "svgutils")
P_LABELS = ("p09", "p05", "p02")
MODES = {"preassign_nolead": "pre-assigned", "decentralized": "decentralized"}
WORKERS = (1, 2, 3, 4, 5)

#: The study's table (../shared/paper/README.md): median speedup, n = 2/3/4/5.
README_TABLE: dict[tuple[str, str], tuple[float, ...]] = {
    ("preassign_nolead", "p09"): (1.41, 1.96, 2.03, 2.19),
    ("preassign_nolead", "p05"): (1.32, 1.23, 1.55, 1.31),
    ("preassign_nolead", "p02"): (1.03, 0.77, 1.04, 1.15),
    ("decentralized", "p09"): (1.00, 0.86, 0.99, 0.97),
    ("decentralized", "p05"): (0.91, 0.91, 0.84, 0.88),
    ("decentralized", "p02"): (0.87, 0.86, 0.83, 0.76),
}
P_VALUE = {"p09": 0.9, "p05": 0.5, "p02": 0.2}

Cell = tuple[str, str, int]  # (mode, p label, n)


def observed_speedups(runs_path: Path) -> dict[Cell, float]:
    """The study's median speedups, computed from runs.parquet exactly as its README says."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading parquet needs pyarrow: pip install 'lmteams[parquet]'") from None
    rows = pq.read_table(runs_path).to_pylist()
    ok = [r for r in rows if r["success"]]
    base: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for r in ok:
        if r["n_teammates"] == 1:
            key = (r["mode"], r["model_dir"], r["task_type"], r["p_label"])
            base[key].append(r["wall_clock_seconds"])
    speedups: dict[Cell, list[float]] = defaultdict(list)
    for r in ok:
        key = (r["mode"], r["model_dir"], r["task_type"], r["p_label"])
        if key in base:
            cell = (r["mode"], r["p_label"], int(r["n_teammates"]))
            speedups[cell].append(statistics.fmean(base[key]) / r["wall_clock_seconds"])
    return {cell: statistics.median(values) for cell, values in speedups.items()}


def replay(
    calibration: Calibration,
    tasks_dir: Path,
    *,
    mode: str,
    topology: str,
    balance: str = "round-robin",
    profiles: str = "solo",
    reps: int = 48,
    workers: Sequence[int] = WORKERS,
    on_condition: Callable[[str, str, str], None] | None = None,
) -> dict[Cell, float]:
    """Median simulated speedup per (mode, p, n), over models, suites and reps, computed the
    study's way. ``mode`` labels the cells; ``topology``/``balance`` say what runs."""
    speedups: dict[Cell, list[float]] = defaultdict(list)
    for suite in SUITES:
        for p_label in P_LABELS:
            path = tasks_dir / f"{suite}_{p_label}.json"
            graph = load_project(path).graph()
            for model in sorted(calibration.models):
                if on_condition is not None:
                    on_condition(suite, p_label, model)
                inputs = SimInputs(
                    graph,
                    calibrated_latency(calibration, model),
                    calibrated_tokens(calibration, model),
                    project=path.stem,
                )
                walls: dict[int, list[float]] = {}
                for n in sorted(set(workers) | {1}):
                    walls[n] = []
                    for rep in range(reps):
                        settings = SimSettings(
                            topology=topology,
                            workers=n,
                            seed=rep,
                            balance=balance,
                            harness="rounds",
                            profiles=profiles,
                            keep_spans=False,
                        )
                        result = simulate(settings, inputs, SimTeam.numbered(n, model=model))
                        if result.status == "done":
                            walls[n].append(result.metrics.makespan_s)
                if not walls[1]:
                    continue
                baseline = statistics.fmean(walls[1])
                for n, values in walls.items():
                    speedups[(mode, p_label, n)].extend(baseline / w for w in values if w > 0)
    return {cell: statistics.median(values) for cell, values in speedups.items() if values}


def amdahl_of(p_label: str, n: int) -> float:
    return amdahl(P_VALUE[p_label], n)


def error(predicted: float, observed: float) -> float:
    """Relative prediction error (predicted - observed) / observed."""
    return (predicted - observed) / observed
