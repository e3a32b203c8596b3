"""Fault tolerance under injected faults: completion, correctness, makespan and extra tokens.

Two workloads of independent questions ("task i: what is a + b?"), every call keyed and durably
logged: "pull", where the team's worker slots (8 nodes x 2 concurrent calls) pull questions
from a shared queue (saturated, self-balancing), and "rounds", where each round asks every node
one question and waits for all of them (an ask-style fan-out with a barrier: unsaturated, so a
straggler holds up every round). Scripted model: correct answers, 60 completion tokens, lognormal latency (median 2 s, sigma 0.25),
deterministic per (task, node). Everything runs in virtual time (VirtualClock), so figures are
exact and repeatable; wall time is only the orchestration cost.

Scenarios (faults injected with the team file's faults: section):
    fault-free      no faults
    crash 2/8       two nodes crash after 10 calls (their calls in flight fail)
    hang 2/8        two nodes stop answering after 10 calls (never reply)
    straggler 1/8   one node 10x slower
    errors 20%      every node fails 20% of calls with a transient error (503)
    garbage 2/8     two nodes return garbage half the time
    byzantine 2/8   two nodes always give a plausible wrong answer
    byz + vote3     the same, each question answered by 3 nodes and decided by majority

Configurations, side by side:
    bare            no resilience section: a failed call is a failed task
    resilient       retries, breakers, adaptive deadlines, rerouting, output checks
    + hedging       the same with hedged requests for stragglers

Columns: done = questions answered; correct = answered right; makespan (virtual s) and its
ratio to the fault-free bare run; tokens billed (completed calls plus the estimated share of
cancelled hedges) and the extra over the fault-free bare run; calls = attempts sent.

A third workload, "graph", runs the study's svgutils_p09 project (20 tasks, p = 0.9) through
the real coordinator with 5 workers under `steal`, with the same faults scaled to 5 nodes:
completion is tasks done out of 20.

Run: python bench/faults.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import ModelError
from lmteams.faults.config import BudgetSpec, FaultsSpec, ResilienceSpec
from lmteams.models.scripted import ScriptedCall, ScriptedReply
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team

NODES = 8
SLOTS = 2
DEADLINE_S = 100_000.0  # virtual: a hung run is cut off here and reported as incomplete

SCENARIOS: dict[str, dict[str, Any]] = {
    "fault-free": {},
    "crash 2/8": {"n1": {"crash_after": 10}, "n5": {"crash_after": 10}},
    "hang 2/8": {
        "n1": {"crash_after": 10, "crash_mode": "hang"},
        "n5": {"crash_after": 10, "crash_mode": "hang"},
    },
    "straggler 1/8": {"n3": {"slow": 10}},
    "errors 20%": {"*": {"error_rate": 0.2}},
    "garbage 2/8": {"n2": {"garbage_rate": 0.5}, "n6": {"garbage_rate": 0.5}},
    "byzantine 2/8": {"n0": {"byzantine_rate": 1.0}, "n4": {"byzantine_rate": 1.0}},
    "byz + vote3": {"n0": {"byzantine_rate": 1.0}, "n4": {"byzantine_rate": 1.0}},
}

RESILIENT: dict[str, Any] = {
    "retries": {"max_attempts": 4, "base_s": 0.2, "max_s": 5},
    "timeouts": {"min_samples": 8},
    "validation": {"regex": r"Answer:\s*-?\d+", "max_retries": 2},
}
CONFIGS: dict[str, dict[str, Any] | None] = {
    "bare": None,
    "resilient": RESILIENT,
    "+ hedging": {**RESILIENT, "hedging": {"enabled": True, "min_samples": 8}},
}


def question(i: int) -> tuple[str, str]:
    a, b = (i * 37) % 101, (i * 53) % 97
    return f"task {i}: what is {a} + {b}?", str(a + b)


def answer_script(call: ScriptedCall) -> ScriptedReply:
    chat = " ".join(m.content for m in call.messages if m.role == "user")  # feedback included
    match = re.search(r"what is (\d+) \+ (\d+)", chat)
    total = int(match.group(1)) + int(match.group(2)) if match else 0
    rng = random.Random(f"{chat}|{call.node}")
    latency = 2.0 * math.exp(rng.gauss(0.0, 0.25))
    return ScriptedReply(f"Adding the numbers. Answer: {total}", latency, completion_tokens=60)


def team_spec(scenario: str, config: dict[str, Any] | None) -> tuple[TeamSpec, Any]:
    spec, backends = scripted_team(NODES, answer_script, max_concurrent=SLOTS)
    update: dict[str, Any] = {}
    if SCENARIOS[scenario]:
        update["faults"] = FaultsSpec.model_validate({"seed": 1, "nodes": SCENARIOS[scenario]})
    if config is not None:
        update["resilience"] = ResilienceSpec.model_validate(config)
    return spec.model_copy(update=update), backends


@dataclass
class Outcome:
    done: int
    correct: int
    tasks: int
    makespan_s: float
    tokens: int
    calls: int
    retries: int = 0
    reroutes: int = 0
    hedges: int = 0
    wall_s: float = 0.0


def extract(text: str) -> str | None:
    found = re.findall(r"Answer:\s*(-?\d+)", text)
    return found[-1] if found else None


async def run(
    scenario: str, config: dict[str, Any] | None, tasks: int, workload: str = "pull"
) -> Outcome:
    spec, backends = team_spec(scenario, config)
    vote = scenario.endswith("vote3")
    store = EventStore(":memory:")
    queue = list(range(tasks))
    results: dict[int, str | None] = {}
    loop = asyncio.get_running_loop()
    started_wall = time.perf_counter()

    async def ask_one(team: Team, node: int, i: int) -> str | None:
        prompt, _ = question(i)
        try:
            reply = await team.call(f"n{node % NODES}", prompt, key=f"task-{i}/{node}")
        except ModelError:
            return None
        return extract(reply.text)

    async def slot(team: Team, node: int) -> None:
        while queue:
            i = queue.pop(0)
            if not vote:
                results[i] = await ask_one(team, node, i)
                continue
            async with asyncio.TaskGroup() as group:
                picks = [group.create_task(ask_one(team, node + k, i)) for k in range(3)]
            answers = Counter(a for a in (p.result() for p in picks) if a is not None)
            results[i] = answers.most_common(1)[0][0] if answers else None

    async def rounds(team: Team) -> None:
        for first in range(0, tasks, NODES):
            async with asyncio.TaskGroup() as group:
                calls = {
                    i: group.create_task(ask_one(team, i - first, i))
                    for i in range(first, min(first + NODES, tasks))
                }
            results.update({i: call.result() for i, call in calls.items()})

    start = loop.time()
    async with Team(spec, store, kind="bench", backends=backends) as team:
        try:
            async with asyncio.timeout(DEADLINE_S), asyncio.TaskGroup() as group:
                if workload == "rounds":
                    group.create_task(rounds(team))
                else:
                    for node in range(NODES):
                        for _ in range(SLOTS):
                            group.create_task(slot(team, node))
        except TimeoutError:
            pass
        makespan = loop.time() - start
        layer = team.resilience
        counters = layer.counters if layer is not None else None
        tokens = team.totals.prompt_tokens + team.totals.completion_tokens
        outcome = Outcome(
            done=sum(1 for a in results.values() if a is not None),
            correct=sum(1 for i, a in results.items() if a == question(i)[1]),
            tasks=tasks,
            makespan_s=makespan,
            tokens=tokens,  # the team's totals count hedge copies' tokens already
            calls=team.totals.calls,
            retries=counters.retries if counters else 0,
            reroutes=counters.reroutes if counters else 0,
            hedges=counters.hedges_sent if counters else 0,
        )
    store.close()
    outcome.wall_s = time.perf_counter() - started_wall
    return outcome


def in_virtual_time(
    scenario: str, config: dict[str, Any] | None, tasks: int, workload: str
) -> Outcome:
    async def main() -> Outcome:
        with VirtualClock():
            return await run(scenario, config, tasks, workload)

    return asyncio.run(main())


def budget_demo(tasks: int, *, strict: bool) -> None:
    limit = tasks * 40
    spec, backends = team_spec("fault-free", RESILIENT)
    spec = spec.model_copy(update={"budget": BudgetSpec(max_tokens=limit, strict=strict)})

    async def main() -> tuple[int, int, str, dict[str, Any] | None]:
        answered = 0
        with VirtualClock():
            store = EventStore(":memory:")
            async with Team(spec, store, kind="bench", backends=backends) as team:
                for i in range(tasks):
                    try:
                        await team.call(f"n{i % NODES}", question(i)[0])
                        answered += 1
                    except ModelError:
                        break
                spent = team.totals.prompt_tokens + team.totals.completion_tokens
            run = store.run(team.run_id)
            return answered, spent, run.status, run.result

    answered, spent, status, result = asyncio.run(main())
    mode = "strict" if strict else "soft"
    print(
        f"{mode} budget of {limit} tokens over {tasks} questions: {answered} answered, "
        f"{spent} tokens spent, run {status} ({(result or {}).get('stopped')})"
    )


GRAPH_NODES = 5
GRAPH_SCENARIOS: dict[str, dict[str, Any]] = {
    "fault-free": {},
    "crash 2/5": {"n1": {"crash_after": 2}, "n3": {"crash_after": 2}},
    "straggler 1/5": {"n2": {"slow": 10}},
    "errors 20%": {"*": {"error_rate": 0.2}},
    "garbage 2/5": {"n1": {"garbage_rate": 0.5}, "n3": {"garbage_rate": 0.5}},
}


def graph_latency(call: ScriptedCall) -> float:
    rng = random.Random(f"{call.prompt[:200]}|{call.node}")
    return 2.0 * math.exp(rng.gauss(0.0, 0.25))


PAPER_TASKS = Path(__file__).resolve().parents[2] / "shared" / "paper" / "tasks"


async def graph_run(scenario: str, config: dict[str, Any] | None) -> Outcome:
    from lmteams.analysis.metrics import compute
    from lmteams.coordinator.run import run_project
    from lmteams.coordinator.settings import RunSettings
    from lmteams.scheduling.project import load_project
    from lmteams.testing import project_script

    project = load_project(PAPER_TASKS / "svgutils_p09.json")
    spec, backends = scripted_team(GRAPH_NODES, project_script, latency_s=graph_latency)
    update: dict[str, Any] = {}
    if GRAPH_SCENARIOS[scenario]:
        update["faults"] = FaultsSpec.model_validate(
            {"seed": 1, "nodes": GRAPH_SCENARIOS[scenario]}
        )
    if config is not None:
        graph_config = {k: v for k, v in config.items() if k != "validation"}
        update["resilience"] = ResilienceSpec.model_validate(graph_config)
    spec = spec.model_copy(update=update)
    store = EventStore(":memory:")
    started = time.perf_counter()
    with VirtualClock():
        result = await run_project(
            spec,
            project,
            store,
            RunSettings(topology="steal", workers=GRAPH_NODES),
            backends=backends,
        )
    events = store.events(result.run_id)
    metrics = compute(result.run_id, events, project.graph())
    kinds = Counter(e.type for e in events)
    return Outcome(
        done=metrics.tasks_done,
        correct=metrics.tasks_done,
        tasks=project.graph().n,
        makespan_s=metrics.makespan_s,
        tokens=metrics.total_tokens,
        calls=metrics.calls,
        retries=kinds["retry"],
        reroutes=kinds["rerouted"],
        hedges=kinds["hedge_sent"],
        wall_s=time.perf_counter() - started,
    )


def graph_table(header: str) -> None:
    print(f"workload graph: svgutils_p09 (20 tasks), {GRAPH_NODES} workers, steal, virtual time\n")
    print(header)
    print("-" * len(header))
    baseline: Outcome | None = None
    for scenario in GRAPH_SCENARIOS:
        for name, config in CONFIGS.items():
            out = asyncio.run(graph_run(scenario, config))
            if baseline is None:
                baseline = out
            print(row(scenario, name, out, baseline))
        print()


def row(scenario: str, name: str, out: Outcome, baseline: Outcome) -> str:
    extra = out.tokens / baseline.tokens - 1
    hung = out.makespan_s >= DEADLINE_S
    makespan = f"{'hung':>9}" if hung else f"{out.makespan_s:>8.1f}s"
    ratio = f"{'-':>6}" if hung else f"{out.makespan_s / baseline.makespan_s:>6.2f}"
    return (
        f"{scenario:<15} {name:<10} {out.done / out.tasks:>6.0%} "
        f"{out.correct / out.tasks:>8.0%} {makespan} "
        f"{ratio} {out.tokens:>8} {extra:>+7.0%} "
        f"{out.calls:>6} {out.retries:>6} {out.reroutes:>6} {out.hedges:>6} "
        f"{out.wall_s:>7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer questions")
    parser.add_argument(
        "--workload", choices=["pull", "rounds", "graph"], action="append", help="default: all"
    )
    args = parser.parse_args()
    args.workload = args.workload or ["pull", "rounds", "graph"]
    tasks = 96 if args.quick else 320
    header = (
        f"{'scenario':<15} {'config':<10} {'done':>6} {'correct':>8} {'makespan':>9} "
        f"{'x ff':>6} {'tokens':>8} {'extra':>7} {'calls':>6} {'retry':>6} {'rerte':>6} "
        f"{'hedge':>6} {'wall s':>7}"
    )
    for workload in args.workload:
        if workload == "graph":
            graph_table(header)
            continue
        print(
            f"workload {workload}: {tasks} questions, {NODES} nodes x {SLOTS} slots, virtual time\n"
        )
        print(header)
        print("-" * len(header))
        baseline: Outcome | None = None
        for scenario in SCENARIOS:
            if workload == "rounds" and scenario.endswith("vote3"):
                continue
            for name, config in CONFIGS.items():
                out = in_virtual_time(scenario, config, tasks, workload)
                if baseline is None:
                    baseline = out
                print(row(scenario, name, out, baseline))
            print()
    budget_demo(tasks // 4, strict=False)
    budget_demo(tasks // 4, strict=True)


if __name__ == "__main__":
    main()
