"""Load balancing across replicas of unequal speed: each policy side by side, in virtual time.

A role served by four scripted replicas, 1x, 1x, 3x and 10x slower (one request at a time
each), receives an open-loop stream of requests: Poisson arrivals at a fixed share of the
group's capacity, each request with its own size (exponential, seeded), the same stream for
every policy. Requests go through the real shell (Team, Router, event log) under the virtual
clock, so the figures are exact and the run takes seconds. Reported per policy: throughput,
mean and p99 latency (arrival to reply), the share of requests each replica served, and the
mean price paid per request (the slow replicas are the cheap ones). ``rr/p99`` is round-robin's
p99 divided by the policy's: how many times lower the policy's tail is.

Run: python bench/balancing.py [--quick] [--requests N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lmteams.config import TeamSpec
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.routing.dispatch import Router
from lmteams.routing.settings import POLICIES
from lmteams.runtime.clock import VirtualClock
from lmteams.state.store import EventStore
from lmteams.team import Team

BASE_S = 1.0  # mean service time of a 1x replica
REPLICAS = (
    ("fast-a", 1.0, 1.00),
    ("fast-b", 1.0, 1.00),
    ("slow", 3.0, 0.30),
    ("slower", 10.0, 0.10),
)
# 15%: even round-robin is stable (the 10x replica gets a quarter of the requests, 0.091/s, under
# its 0.1/s); 50% and 80%: round-robin overloads the slow replica and its queue grows unbounded.
LOADS = (0.15, 0.5, 0.8)
CAPACITY_PER_S = sum(1.0 / (BASE_S * slowdown) for _, slowdown, _ in REPLICAS)


def team(policy: str) -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "name": f"balancing-{policy}",
            "models": {
                name: {"backend": "scripted", "prices": {"input_per_mtok": price}}
                for name, _, price in REPLICAS
            },
            "defaults": {"max_concurrent": 1},
            "nodes": [{"name": name, "role": "worker", "model": name} for name, _, _ in REPLICAS],
            "roles": {"worker": {"balance": policy, "seed": 1}},
        }
    )


def backends(sizes: list[float]) -> dict[str, ModelBackend]:
    def make(slowdown: float) -> ScriptedBackend:
        def latency(call: ScriptedCall) -> float:
            return BASE_S * slowdown * sizes[int(call.prompt)]

        return ScriptedBackend(lambda call: "done", latency_s=latency)

    return {name: make(slowdown) for name, slowdown, _ in REPLICAS}


@dataclass(frozen=True, slots=True)
class Result:
    policy: str
    load: float
    throughput: float
    mean_s: float
    p99_s: float
    shares: dict[str, float]
    price: float


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def run_policy(policy: str, load: float, n: int, seed: int, db: Path) -> Result:
    rng = random.Random(seed)
    rate = load * CAPACITY_PER_S
    gaps = [rng.expovariate(rate) for _ in range(n)]
    sizes = [rng.expovariate(1.0) for _ in range(n)]
    prices = {name: price for name, _, price in REPLICAS}
    latencies: list[float] = []
    served: Counter[str] = Counter()
    store = EventStore(db)
    with VirtualClock() as clock:
        async with Team(team(policy), store, kind="bench", backends=backends(sizes)) as t:
            router = Router(t, seed=seed)

            async def one(index: int, arrived: float) -> None:
                reply = await router.call("worker", str(index), durable=False)
                latencies.append(clock.time() - arrived)
                served[reply.node] += 1

            started = clock.time()
            async with asyncio.TaskGroup() as group:
                for index, gap in enumerate(gaps):
                    await asyncio.sleep(gap)
                    group.create_task(one(index, clock.time()))
            makespan = clock.time() - started
    store.close()
    return Result(
        policy=policy,
        load=load,
        throughput=n / makespan,
        mean_s=statistics.fmean(latencies),
        p99_s=p99(latencies),
        shares={name: served[name] / n for name, _, _ in REPLICAS},
        price=sum(prices[name] * count for name, count in served.items()) / n,
    )


def table(results: list[Result]) -> None:
    rr = next(r for r in results if r.policy == "round_robin")
    names = [name for name, _, _ in REPLICAS]
    share_head = " ".join(f"{name:>7}" for name in names)
    print(
        f"{'policy':<20} {'req/s':>6} {'mean s':>8} {'p99 s':>8} {'rr/p99':>8} "
        f"{'price':>6}  share: {share_head}"
    )
    for r in results:
        shares = " ".join(f"{r.shares[name]:>7.1%}" for name in names)
        print(
            f"{r.policy:<20} {r.throughput:>6.3f} {r.mean_s:>8.2f} {r.p99_s:>8.2f} "
            f"{rr.p99_s / r.p99_s:>7.1f}x {r.price:>6.2f}         {shares}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n = args.requests or (1000 if args.quick else 5000)
    print(
        f"4 replicas (1x, 1x, 3x, 10x slower; one request at a time each), mean service "
        f"{BASE_S:g}s at 1x; group capacity {CAPACITY_PER_S:.3f} req/s; "
        f"{n} Poisson arrivals per run, seed {args.seed}; virtual time"
    )
    wall = time.perf_counter()
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for load in LOADS:
            print(f"\noffered load {load:.0%} of capacity ({load * CAPACITY_PER_S:.3f} req/s)")
            results = [
                asyncio.run(run_policy(p, load, n, args.seed, Path(tmp) / f"{p}-{load}.db"))
                for p in POLICIES
            ]
            table(results)
            by = {r.policy: r for r in results}
            for policy in ("least_outstanding", "power_of_two"):
                beats = by[policy].p99_s < by["round_robin"].p99_s
                verdicts.append(beats)
                print(
                    f"  {policy} p99 {'beats' if beats else 'DOES NOT beat'} round_robin: "
                    f"{by[policy].p99_s:.2f}s vs {by['round_robin'].p99_s:.2f}s "
                    f"({by['round_robin'].p99_s / by[policy].p99_s:.1f}x lower)"
                )
    print(
        f"\n{len(LOADS) * len(POLICIES) * n} routed calls in {time.perf_counter() - wall:.1f}s wall"
    )
    if not all(verdicts):
        raise SystemExit("expected least_outstanding and power_of_two to beat round_robin on p99")


if __name__ == "__main__":
    main()
