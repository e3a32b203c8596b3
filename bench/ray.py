"""The Ray runtime next to the local runtime: per-call overhead, throughput, memory.

(a) Fan-out-and-vote with an instant scripted model, every message in the durable log, for
    teams of 4, 32 and 256 nodes: microseconds per node call and calls/s, local runtime vs Ray
    (many nodes per async actor, messages batched per actor), measured in the same run.
(b) The naive layout, one actor per node, next to the batched layout at the same team size:
    per-call cost, actor processes and their resident memory. At 256 nodes the naive layout
    means 256 Python processes (about 11 GB here), so it is measured at smaller sizes unless
    --naive lists more.
(c) The embedded model (SmolLM2-135M): team throughput in completion tokens/s, local runtime
    vs Ray, where one model-server actor serves every node-host actor of the machine.

Run inside the loopback-only namespace (make bench does):
    scripts/loopback-only .venv/bin/python bench/ray.py [--quick] [--skip-model] [--naive 4,32]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named ray.py: drop its folder from the path before anything imports Ray, or
# `import ray` (here and in Ray's workers, which inherit the driver's path) finds this file.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from lmteams.config import TeamSpec, parse_team  # noqa: E402
from lmteams.models.base import ModelBackend  # noqa: E402
from lmteams.runtime.base import Runtime  # noqa: E402
from lmteams.runtime.local import LocalRuntime  # noqa: E402
from lmteams.runtime.ray.cluster import start_local  # noqa: E402
from lmteams.runtime.ray.runtime import RayRuntime  # noqa: E402
from lmteams.runtime.ray.settings import RaySettings  # noqa: E402
from lmteams.state.store import EventStore  # noqa: E402
from lmteams.strategies.ask import ask_team  # noqa: E402
from lmteams.team import Team  # noqa: E402
from lmteams.testing import scripted_team  # noqa: E402

INSTANT = "Answer: 42"


def instant(call: Any) -> str:
    return INSTANT


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def steady(
    make: Any,
    spec: TeamSpec,
    backends: dict[str, ModelBackend] | None,
    rounds: int,
    db: Path,
    question: str = "q",
) -> dict[str, Any]:
    """Many questions through one open run; the first (warm-up) is not timed."""
    store = EventStore(db)
    runtime: Runtime = make()
    started = time.perf_counter()
    async with Team(spec, store, kind="bench", runtime=runtime, backends=backends) as team:
        start_s = time.perf_counter() - started
        await ask_team(team, question)
        started = time.perf_counter()
        tokens = 0
        for k in range(rounds):
            result = await ask_team(team, f"{question} #{k}")
            tokens += result.completion_tokens
        elapsed = time.perf_counter() - started
        actors: list[dict[str, Any]] = []
        if isinstance(runtime, RayRuntime):
            actors = await runtime.actor_statistics()
        memory_mb = sum(rss_mb(int(a.get("pid", 0))) for a in actors)
        logged = team.journal.messages if team.journal else 0
    store.close()
    n = len(spec.nodes)
    assert logged == 2 * n * (rounds + 1), "every request and reply must be in the log"
    return {
        "us_per_call": elapsed / (n * rounds) * 1e6,
        "tokens_per_s": tokens / elapsed,
        "start_s": start_s,
        "actors": len(actors),
        "rss_mb": memory_mb,
    }


def best(make: Any, spec: TeamSpec, backends: Any, rounds: int, db: Path, repeats: int) -> Any:
    runs = [asyncio.run(steady(make, spec, backends, rounds, db)) for _ in range(repeats)]
    return min(runs, key=lambda r: r["us_per_call"])


def overhead_table(quick: bool, tmp: Path) -> None:
    print("(a) per node call, instant scripted model, fan-out + majority vote, all logged")
    print(
        f"{'nodes':>6} {'local µs':>9} {'ray µs':>8} {'ray/local':>9} "
        f"{'ray calls/s':>11} {'actors':>6} {'actor MB':>8}"
    )
    repeats = 1 if quick else 2
    for n in (4, 32, 256):
        rounds = max(4, (1500 if quick else 6000) // n)
        spec, backends = scripted_team(n, instant)
        local = best(LocalRuntime, spec, backends, rounds, tmp / f"l{n}.db", repeats)
        ray = best(RayRuntime, spec, backends, rounds, tmp / f"r{n}.db", repeats)
        print(
            f"{n:>6} {local['us_per_call']:>9.1f} {ray['us_per_call']:>8.1f} "
            f"{ray['us_per_call'] / local['us_per_call']:>9.1f} "
            f"{1e6 / ray['us_per_call']:>11.0f} {ray['actors']:>6} {ray['rss_mb']:>8.0f}"
        )
    print("target: at most 250 µs per node call at 256 nodes on one machine\n")


def naive_table(sizes: list[int], quick: bool, tmp: Path) -> None:
    print("(b) one actor per node (naive) vs many nodes per actor (batched), same team")
    print(
        f"{'nodes':>6} {'naive µs':>9} {'batched µs':>10} {'naive/batched':>13} "
        f"{'naive actors':>12} {'naive MB':>9} {'batched MB':>10} {'naive start s':>13}"
    )
    naive_settings = RaySettings(nodes_per_actor=1, start_timeout_s=1800)
    for n in sizes:
        rounds = max(4, (600 if quick else 2000) // n)
        spec, backends = scripted_team(n, instant)
        naive = asyncio.run(
            steady(
                lambda: RayRuntime(settings=naive_settings),
                spec,
                backends,
                rounds,
                tmp / f"n{n}.db",
            )
        )
        batched = asyncio.run(steady(RayRuntime, spec, backends, rounds, tmp / f"b{n}.db"))
        print(
            f"{n:>6} {naive['us_per_call']:>9.1f} {batched['us_per_call']:>10.1f} "
            f"{naive['us_per_call'] / batched['us_per_call']:>13.1f} {naive['actors']:>12} "
            f"{naive['rss_mb']:>9.0f} {batched['rss_mb']:>10.0f} {naive['start_s']:>13.1f}"
        )
    print("(MB: resident memory summed over the node-host actor processes)\n")


MAX_TOKENS = 48


def model_team(nodes: int) -> TeamSpec:
    return parse_team(
        {
            "models": {"smollm2": {"backend": "embedded", "n_parallel": 16, "ctx_per_slot": 1024}},
            "defaults": {
                "system_prompt": "You are concise.",
                "temperature": 0.0,
                "max_tokens": MAX_TOKENS,
            },
            "nodes": [{"name": f"n{i}", "max_concurrent": 1} for i in range(nodes)],
        },
        source="bench",
    )


def model_table(quick: bool, tmp: Path) -> None:
    print("(c) embedded SmolLM2-135M, team throughput (completion tokens/s), same settings")
    print(f"{'nodes':>6} {'local tok/s':>12} {'ray tok/s':>10} {'ray/local':>9}")
    rounds = 1 if quick else 3
    for n in (4, 16) if not quick else (8,):
        spec = model_team(n)
        local, ray = [], []
        for rep in range(2):
            # alternate the order so that drift on a noisy machine hits both sides
            for side in ("l", "r") if rep % 2 == 0 else ("r", "l"):
                make = LocalRuntime if side == "l" else RayRuntime
                db = tmp / f"m{side}{n}-{rep}.db"
                figures = asyncio.run(steady(make, spec, None, rounds, db, "Say one fact about"))
                (local if side == "l" else ray).append(figures["tokens_per_s"])
        lo, ra = statistics.median(local), statistics.median(ray)
        print(f"{n:>6} {lo:>12.1f} {ra:>10.1f} {ra / lo:>9.2f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--skip-model", action="store_true", help="skip the embedded model (c)")
    parser.add_argument(
        "--naive", default="4,32", help="team sizes for the one-actor-per-node layout (b)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Ray adds the driver's working directory to its workers' import path: use an empty one.
        os.chdir(tmp)
        cpus = os.cpu_count() or 1
        started = time.perf_counter()
        start_local(num_cpus=cpus)
        print(f"local Ray cluster ({cpus} CPUs) started in {time.perf_counter() - started:.1f} s\n")
        overhead_table(args.quick, Path(tmp))
        sizes = [int(s) for s in args.naive.split(",") if s.strip()]
        if sizes:
            naive_table(sizes, args.quick, Path(tmp))
        if not args.skip_model:
            model_table(args.quick, Path(tmp))


if __name__ == "__main__":
    main()
