"""Sweeps: run a project over a grid of team sizes and topologies, repeated, and tabulate.

Speedup follows the study: a run's speedup is the mean makespan of the successful n = 1 runs
of the same topology divided by its makespan, and medians are taken over successful runs only
(a failed run that stopped early is fast, not good); each cell says how many runs it kept. Each cell of the grid is a real run with its own run id in
the event log; the sweep itself is a run of kind ``sweep`` that lists them.
"""

from __future__ import annotations

import csv
import itertools
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.analysis.metrics import RunMetrics, compute, with_baseline
from lmteams.config import TeamSpec
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.runtime.pool import BackendPool
from lmteams.scheduling.project import ProjectSpec
from lmteams.state.store import EventStore


class SweepRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    topology: str
    workers: int
    rep: int
    run_id: str
    status: str
    makespan_s: float
    speedup: float | None
    amdahl: float | None
    efficiency: float | None
    bound_ratio: float | None
    tokens: int
    token_ratio: float | None
    messages: int
    claims_refused: int
    write_conflicts: int
    rewrites: int
    checks_failed: int
    straggler_gap_s: float


MAX_SIZES = 1000
MAX_TEAM_SIZE = 100_000  # the simulator's largest team (advise --max-workers)


def parse_range(text: str) -> list[int]:
    """'1..5' -> [1, 2, 3, 4, 5]; '1,2,4' -> [1, 2, 4]."""
    try:
        if ".." in text:
            low, high = (int(x) for x in text.split("..", 1))
            if high - low >= MAX_SIZES:  # checked before the list is built
                raise ConfigError(
                    f"at most {MAX_SIZES} team sizes, got {text!r}", field="--workers"
                )
            values = list(range(low, high + 1))
        else:
            values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(
            f"expected a range like 1..5 or a list like 1,2,4, got {text!r}", field="--workers"
        ) from None
    if not values or min(values) < 1:
        raise ConfigError(f"worker counts must be at least 1, got {text!r}", field="--workers")
    if len(values) > MAX_SIZES or max(values) > MAX_TEAM_SIZE:
        raise ConfigError(
            f"at most {MAX_SIZES} team sizes of at most {MAX_TEAM_SIZE} nodes, got {text!r}",
            field="--workers",
        )
    return values


async def sweep(
    spec: TeamSpec,
    project: ProjectSpec,
    store: EventStore,
    *,
    workers: Sequence[int],
    topologies: Sequence[str],
    reps: int,
    base: RunSettings,
    backends: Mapping[str, ModelBackend] | None = None,
    runtime_factory: Callable[[], Runtime] | None = None,
    on_run: Callable[[str, int, int, RunMetrics], None] | None = None,
) -> tuple[list[SweepRow], dict[str, RunMetrics]]:
    """Run the grid; n = 1 is always included (it is the baseline). Returns rows and metrics.

    On the local runtime every cell runs on the same backends: each embedded model loads once
    for the sweep and is closed at its end (a ``runtime_factory``'s runtimes place their own).
    """
    counts = sorted(set(workers) | {1})
    graph = project.graph()
    metrics: dict[str, RunMetrics] = {}
    cells: list[tuple[str, int, int, RunMetrics]] = []
    async with BackendPool(backends) as pool:
        shared = pool.backends_for(spec) if runtime_factory is None else backends
        for topology, n, rep in itertools.product(topologies, counts, range(reps)):
            settings = base.model_copy(
                update={"topology": topology, "workers": n, "seed": base.seed + rep}
            )
            result = await run_project(
                spec,
                project,
                store,
                settings,
                backends=shared,
                runtime=runtime_factory() if runtime_factory else None,
            )
            run_metrics = compute(result.run_id, store.events(result.run_id), graph)
            metrics[result.run_id] = run_metrics
            cells.append((topology, n, rep, run_metrics))
            if on_run:
                on_run(topology, n, rep, run_metrics)
    rows: list[SweepRow] = []
    for topology in topologies:
        mine = [c for c in cells if c[0] == topology]
        status = {m.run_id: store.run(m.run_id).status for _, _, _, m in mine}
        baseline = [m for t, n, _, m in mine if n == 1 and status[m.run_id] == "done"]
        base_makespan = statistics.fmean(m.makespan_s for m in baseline) if baseline else None
        base_tokens = statistics.fmean(m.total_tokens for m in baseline) if baseline else 0.0
        for _, n, rep, m in mine:
            full = with_baseline(m, base_makespan) if base_makespan else m
            metrics[m.run_id] = full
            rows.append(
                SweepRow(
                    topology=topology,
                    workers=n,
                    rep=rep,
                    run_id=m.run_id,
                    status=status[m.run_id],
                    makespan_s=m.makespan_s,
                    speedup=full.speedup,
                    amdahl=m.amdahl_speedup,
                    efficiency=full.efficiency,
                    bound_ratio=m.bound_ratio,
                    tokens=m.total_tokens,
                    token_ratio=round(m.total_tokens / base_tokens, 4) if base_tokens else None,
                    messages=m.messages,
                    claims_refused=m.claims_refused,
                    write_conflicts=m.write_conflicts,
                    rewrites=m.rewrites,
                    checks_failed=m.checks_failed,
                    straggler_gap_s=m.straggler_gap_s,
                )
            )
    return rows, metrics


def write_table(rows: Sequence[SweepRow], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "sweep.csv", out / "sweep.json"
    fields = list(SweepRow.model_fields)
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.model_dump())
    json_path.write_text(json.dumps([r.model_dump() for r in rows], indent=2))
    return [csv_path, json_path]


MEDIAN_COLUMNS = ("topology", "n", "speedup", "Amdahl", "tokens ×", "makespan", "kept")


def _num(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def median_cells(table: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The rows of :func:`medians` as display text, in :data:`MEDIAN_COLUMNS` order."""
    return [
        [
            m["topology"],
            str(m["workers"]),
            _num(m["speedup"], "{:.2f}"),
            f"{m['amdahl']:.2f}" if m["amdahl"] else "",
            _num(m["token_ratio"], "{:.2f}"),
            _num(m["makespan_s"], "{:.2f}s"),
            f"{m['done']}/{m['runs']}",
        ]
        for m in table
    ]


def medians(rows: Sequence[SweepRow]) -> list[dict[str, Any]]:
    """Median speedup, token ratio and makespan per (topology, n), over the cell's successful
    runs (``done`` of ``runs``); None where none succeeded."""
    groups: dict[tuple[str, int], list[SweepRow]] = {}
    for row in rows:
        groups.setdefault((row.topology, row.workers), []).append(row)
    out = []
    for (topology, n), group in sorted(groups.items()):
        kept = [r for r in group if r.status == "done"]
        speedups = [r.speedup for r in kept if r.speedup is not None]
        ratios = [r.token_ratio for r in kept if r.token_ratio is not None]
        out.append(
            {
                "topology": topology,
                "workers": n,
                "speedup": statistics.median(speedups) if speedups else None,
                "amdahl": group[0].amdahl,
                "token_ratio": statistics.median(ratios) if ratios else None,
                "makespan_s": statistics.median(r.makespan_s for r in kept) if kept else None,
                "done": len(kept),
                "runs": len(group),
            }
        )
    return out
