"""How close each topology gets to the DAG's lower bound, and what the scheduler costs.

Runs the real coordinator (policies, event log, workspace) with scripted models in virtual
time on the study's nine task graphs, n = 1..5, for every topology:
- equal latencies (1 s per call) and lognormal latencies (median 1 s, sigma 0.5, per task);
- the ratio DAG lower bound / achieved makespan (lower bound from the run's own task
  durations: max(critical path, total work / n));
- speedup against n = 1 next to Amdahl's prediction and the study's measured medians.
Claims (decentralized) and assignments (lead) are model calls too, at the same latency.

Then the scheduler's own overhead: a random 10,000-task graph with an instant model, in real
time, microseconds per task (every event in the durable log), beside a bare loop over the same
graph that only pops ready tasks and releases their dependents (the floor), with the ratio.

Run: python bench/scheduling.py [--quick] [--overhead]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from lmteams.analysis.metrics import compute
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import ProjectSpec, load_project, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "tasks"
TOPOLOGIES = ("preassign", "steal", "decentralized", "lead")
# The study's median speedups (shared/paper/README.md), n = 2..5.
STUDY = {
    ("preassign", 0.9): (1.41, 1.96, 2.03, 2.19),
    ("preassign", 0.5): (1.32, 1.23, 1.55, 1.31),
    ("preassign", 0.2): (1.03, 0.77, 1.04, 1.15),
    ("decentralized", 0.9): (1.00, 0.86, 0.99, 0.97),
    ("decentralized", 0.5): (0.91, 0.91, 0.84, 0.88),
    ("decentralized", 0.2): (0.87, 0.86, 0.83, 0.76),
}
_TASK = re.compile(r"^Your task \(([^)]+)\)", re.M)


def latency_model(kind: str, seed: int):  # type: ignore[no-untyped-def]
    def latency(call: ScriptedCall) -> float:
        if kind == "equal":
            return 1.0
        match = _TASK.search(call.prompt)
        key = match.group(1) if match else f"decision-{call.index}"
        return random.Random(f"{seed}/{key}").lognormvariate(0.0, 0.5)

    return latency


async def one_run(
    project: ProjectSpec, topology: str, n: int, kind: str, seed: int, db: Path
) -> tuple[float, float]:
    workers = n + (topology == "lead")
    spec, backends = scripted_team(workers, project_script, latency_s=latency_model(kind, seed))
    with EventStore(db) as store, VirtualClock():
        result = await run_project(
            spec,
            project,
            store,
            RunSettings(topology=topology, workers=n, seed=seed),
            backends=backends,
        )
        metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert result.status == "done", result.tasks
    return metrics.makespan_s, metrics.lower_bound_s or 0.0


def study_table(quick: bool) -> None:
    files = sorted(PAPER.glob("*.json"))
    if quick:
        files = [f for f in files if f.stem.startswith("mathutilities20")]
    seeds = range(1 if quick else 3)
    print("(1) lower bound / achieved makespan on the study's graphs (mean over graphs and seeds)")
    with tempfile.TemporaryDirectory() as tmp:
        results: dict[tuple[str, str, float, int], list[tuple[float, float]]] = {}
        for path in files:
            project = load_project(path)
            p = round(project.graph().p, 1)
            for kind in ("equal", "lognormal"):
                for topology in TOPOLOGIES:
                    for n in range(1, 6):
                        for seed in seeds if kind == "lognormal" else range(1):
                            db = Path(tmp) / f"{path.stem}-{kind}-{topology}-{n}-{seed}.db"
                            makespan, bound = asyncio.run(
                                one_run(project, topology, n, kind, seed, db)
                            )
                            results.setdefault((kind, topology, p, n), []).append((makespan, bound))
        for kind in ("equal", "lognormal"):
            print(f"\n  {kind} latencies: bound ratio by n (all graphs)")
            print(
                f"  {'topology':<14}"
                + "".join(f"{'n=' + str(n):>8}" for n in range(1, 6))
                + f"{'min':>8}"
            )
            for topology in TOPOLOGIES:
                ratios = []
                cells = []
                for n in range(1, 6):
                    pairs = [
                        pair
                        for (k, t, _, m), v in results.items()
                        if k == kind and t == topology and m == n
                        for pair in v
                    ]
                    values = [b / m for m, b in pairs]
                    ratios.extend(values)
                    cells.append(statistics.fmean(values))
                print(
                    f"  {topology:<14}"
                    + "".join(f"{c:>8.3f}" for c in cells)
                    + f"{min(ratios):>8.3f}"
                )
        print(
            "\n  targets: >= 0.95 with equal latencies for preassign and steal; >= 0.85 lognormal for steal"
        )
        print(
            "\n(2) speedup vs n = 1 (equal latencies; mean over the suites) beside Amdahl and the study's medians"
        )
        print(f"  {'topology':<14}{'p':>5}" + "".join(f"{'n=' + str(n):>8}" for n in range(2, 6)))
        for p in (0.9, 0.5, 0.2):
            from lmteams.scheduling.graph import amdahl

            print(f"  {'Amdahl':<14}{p:>5}" + "".join(f"{amdahl(p, n):>8.2f}" for n in range(2, 6)))
            for topology in TOPOLOGIES:
                base = statistics.fmean(m for m, _ in results[("equal", topology, p, 1)])
                cells = [
                    base / statistics.fmean(m for m, _ in results[("equal", topology, p, n)])
                    for n in range(2, 6)
                ]
                print(f"  {topology:<14}{p:>5}" + "".join(f"{c:>8.2f}" for c in cells))
                if (topology, p) in STUDY:
                    print(
                        f"  {'  study ' + topology[:6]:<14}{p:>5}"
                        + "".join(f"{v:>8.2f}" for v in STUDY[(topology, p)])
                    )


def random_project(tasks: int, seed: int) -> ProjectSpec:
    rng = random.Random(seed)
    items = []
    for i in range(tasks):
        window = range(max(0, i - 200), i)
        deps = rng.sample(list(window), k=min(len(window), rng.randint(0, 3)))
        items.append(
            {"id": f"t{i}", "dependencies": [f"t{d}" for d in deps], "files": [f"m{i}.py"]}
        )
    return parse_project({"project": "random", "tasks": items}, source="random")


async def overhead_run(
    project: ProjectSpec, topology: str, workers: int, db: Path, workdir: Path | None = None
) -> float:
    spec, backends = scripted_team(workers, project_script)
    settings = RunSettings(
        topology=topology, workers=workers, workdir=str(workdir) if workdir else None
    )
    with EventStore(db) as store:
        started = time.perf_counter()
        result = await run_project(spec, project, store, settings, backends=backends)
        elapsed = time.perf_counter() - started
        assert result.status == "done"
    return elapsed / project.graph().n * 1e6


def bare_loop_us(project: ProjectSpec, repeat: int = 5) -> float:
    """The floor: pop ready tasks and release their dependents, nothing else (best of 5)."""
    graph = project.graph()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        missing = {t: len(graph.deps[t]) for t in graph.ids}
        ready = collections.deque(t for t in graph.ids if not missing[t])
        while ready:
            task = ready.popleft()
            for child in graph.dependents[task]:
                missing[child] -= 1
                if not missing[child]:
                    ready.append(child)
        best = min(best, time.perf_counter() - started)
    return best / graph.n * 1e6


def overhead_table(quick: bool) -> None:
    size = 2000 if quick else 10_000
    project = random_project(size, 7)
    floor = bare_loop_us(project)
    print(f"\n(3) scheduler overhead, random {size}-task graph, instant scripted model, real time")
    # Each task writes a file. Creating a file on this machine's disk costs anywhere from 30 to
    # 450 µs (measured beside the runs), which would swamp the scheduler's own cost, so the
    # project's files go to a memory-backed directory in the first column and to the disk
    # beside the event log in the second. The event log is on the disk in both.
    memory = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    print(f"  bare loop (pop ready tasks, release dependents): {floor:.2f} µs/task")
    print(
        f"  {'topology':<14}{'workers':>8}{'µs/task':>10}{'x floor':>9}{'tasks/s':>10}"
        f"{'files on disk µs/task':>24}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for topology, workers in (("preassign", 16), ("steal", 16), ("steal", 64)):
            with tempfile.TemporaryDirectory(dir=memory) as files:
                in_memory = overhead_run_sync(
                    project, topology, workers, Path(tmp) / f"{topology}{workers}m.db", Path(files)
                )
            on_disk = overhead_run_sync(
                project, topology, workers, Path(tmp) / f"{topology}{workers}d.db"
            )
            print(
                f"  {topology:<14}{workers:>8}{in_memory:>10.1f}{in_memory / floor:>9.0f}"
                f"{1e6 / in_memory:>10.0f}{on_disk:>24.1f}"
            )
        print(
            f"  creating one file on this disk, measured beside: {file_create_us(Path(tmp)):.0f} µs"
        )
    if memory is None:
        print("  (no /dev/shm here: both columns write files to the disk)")
    print(
        "  target: at most 100 µs per task with the files in memory (each task: a model call,"
        " its files, 8 logged events)"
    )
    print(f"  load average when it ran: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def file_create_us(directory: Path, count: int = 2000) -> float:
    target = directory / "files"
    target.mkdir()
    started = time.perf_counter()
    for i in range(count):
        (target / f"m{i}.py").write_text("def f():\n    return 1\n")
    return (time.perf_counter() - started) / count * 1e6


def overhead_run_sync(
    project: ProjectSpec, topology: str, workers: int, db: Path, workdir: Path | None = None
) -> float:
    return asyncio.run(overhead_run(project, topology, workers, db, workdir))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one suite, one seed, a 2,000-task graph"
    )
    parser.add_argument("--overhead", action="store_true", help="only the scheduler's overhead (3)")
    args = parser.parse_args()
    if not args.overhead:
        study_table(args.quick)
    overhead_table(args.quick)


if __name__ == "__main__":
    main()
