"""A small study layout (runs.parquet and one task file) and scripted runs to compare with it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunResult, RunSettings
from lmteams.scheduling.project import ProjectSpec, load_project
from lmteams.state.store import EventStore
from lmteams.testing import VirtualClock, scripted_team

from ..coordinator.rounds_script import rounds_script
from ..scheduling.test_graph import PAPER

CONDITION = "mathutilities20_p05"


def study_project() -> ProjectSpec:
    return load_project(PAPER / f"{CONDITION}.json")


def _row(model: str, n: int, wall: float, success: bool = True, **extra: Any) -> dict[str, Any]:
    row = {
        "run_dir": f"runs/{model}/n{n}/{wall}",
        "model_dir": model,
        "mode": "decentralized",
        "p_true": 0.5,
        "n_teammates": n,
        "success": success,
        "wall_clock_seconds": wall,
        "total_input_tokens": 1000 * n,
        "total_output_tokens": 100 * n,
        "task_type": "mathutilities20",
        "p_label": "p05",
        "claims_blocked": 3 * n,
    }
    row.update(extra)
    return row


def write_study(root: Path, *, drop: str | None = None) -> Path:
    """root/data/runs.parquet and root/tasks/mathutilities20_p05.json. Speedups at n = 2:
    model a 110/55 = 2.0, model b 200/80 = 2.5 (median 2.25); one failed run of a at n = 2."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        _row("a", 1, 100.0),
        _row("a", 1, 120.0),
        _row("a", 2, 55.0),
        _row("a", 2, 30.0, success=False),
        _row("b", 1, 200.0),
        _row("b", 2, 80.0),
    ]
    if drop:
        for row in rows:
            del row[drop]
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), data / "runs.parquet")
    tasks = root / "tasks"
    tasks.mkdir(exist_ok=True)
    shutil.copy(PAPER / f"{CONDITION}.json", tasks)
    return data


async def scripted_run(
    store: EventStore, project: ProjectSpec, topology: str, workers: int, **settings: Any
) -> RunResult:
    """A rounds run of scripted agents, each call taking 1 s of virtual time."""
    spec, backends = scripted_team(workers, rounds_script, latency_s=1.0)
    with VirtualClock():
        return await run_project(
            spec,
            project,
            store,
            RunSettings(topology=topology, workers=workers, harness="rounds", **settings),
            backends=backends,
        )
