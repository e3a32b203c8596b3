"""How fast the simulator runs: events per second and wall time, 1k/10k nodes x 10k/100k tasks.

Each run drives the real scheduling policy (the same code `lmteams run` uses) through a random
layered graph (20 layers, 2 prerequisites per task) with lognormal call latencies, one call per
task (the lmteams harness). Prints, per topology and size: wall time, events per second, the
share of time spent inside the policy, and the simulated makespan against the DAG lower bound.
Decentralized and lead are measured at 1,000 nodes x 10,000 tasks: self-claiming costs about
ten claim calls per task (every resting idle node is asked again after each completion, as in
the study), so its events are ten times the task count.

Beside each run, the floor: a bare event loop (push one timed event per event of the run onto
a heap, pop them all in order) and the ratio of the run's wall time to it.

Run: python bench/simulator.py [--quick]
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
import time

from lmteams.sim.engine import simulate
from lmteams.sim.generators import generate
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings

LATENCY = "lognormal:10,0.5"


def floor_s(events: int) -> float:
    """A bare discrete-event loop of ``events`` events: heap pushes, then pops in time order."""
    rng = random.Random(1)
    started = time.perf_counter()
    heap: list[tuple[float, int]] = []
    for i in range(events):
        heapq.heappush(heap, (rng.random(), i))
    while heap:
        heapq.heappop(heap)
    return time.perf_counter() - started


def measure(tasks: int, nodes: int, topology: str) -> dict[str, float]:
    graph = generate(f"random:layered:tasks={tasks},layers=20,seed=1")
    inputs = SimInputs(graph, parse_latency(LATENCY))
    started = time.perf_counter()
    result = simulate(SimSettings(topology=topology, workers=nodes, keep_spans=False), inputs)
    wall = time.perf_counter() - started
    metrics = result.metrics
    assert result.status == "done", result.status
    return {
        "wall_s": wall,
        "events": result.events,
        "rate": result.events / wall,
        "policy": result.policy_s / wall,
        "makespan": metrics.makespan_s,
        "bound": metrics.bound_ratio or 0.0,
        "floor": floor_s(result.events),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [(10_000, 1_000), (100_000, 10_000)]
    if not args.quick:
        sizes = [(10_000, 1_000), (10_000, 10_000), (100_000, 1_000), (100_000, 10_000)]
    print(f"layered graphs, 20 layers; latency {LATENCY}; one call per task")
    print(
        f"{'topology':<14}{'tasks':>8}{'nodes':>8}{'wall s':>9}{'events':>9}{'events/s':>11}"
        f"{'policy':>8}{'makespan':>11}{'bound':>7}{'floor s':>9}{'x floor':>9}"
    )
    slowest = decentralized = 0.0
    for topology in ("steal", "preassign", "decentralized", "lead"):
        for tasks, nodes in sizes:
            if topology in ("decentralized", "lead") and (tasks, nodes) != (10_000, 1_000):
                continue
            row = measure(tasks, nodes, topology)
            if (tasks, nodes) == (100_000, 10_000):
                slowest = max(slowest, row["wall_s"])
            if topology == "decentralized":
                decentralized = row["wall_s"]
            print(
                f"{topology:<14}{tasks:>8}{nodes:>8}{row['wall_s']:>9.2f}{row['events']:>9.0f}"
                f"{row['rate']:>11,.0f}{row['policy']:>8.0%}{row['makespan']:>11.1f}"
                f"{row['bound']:>7.0%}{row['floor']:>9.3f}{row['wall_s'] / row['floor']:>9.0f}"
            )
    print(f"10,000 nodes x 100,000 tasks: {slowest:.1f}s at most (target: under 5 s)")
    print(f"decentralized, 1,000 nodes x 10,000 tasks: {decentralized:.1f}s (target: under 3 s)")
    print(f"load average when it ran: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
