"""The simulator against the real coordinator, and properties every simulated run must have."""

from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmteams.analysis.metrics import compute
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.faults.injection.rules import apply_inject, parse_inject
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.policy import Decision, Policy
from lmteams.scheduling.project import ProjectSpec, load_project
from lmteams.sim.engine import Engine, simulate
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimNode, SimSettings, SimTeam
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY

TOPOLOGIES = ["preassign", "steal", "decentralized", "lead"]


# Constant per node and per kind of call, and different between nodes: with every latency
# equal, events tie and their order is asyncio's heap order, which no simulator reproduces.
def task_s(i: int) -> float:
    return 1.0 + 0.1371 * i


def claim_s(i: int) -> float:
    return 0.25 + 0.0517 * i


LEAD_S = 0.4321


def scripted_latency(call: ScriptedCall) -> float:
    if "Assign ready tasks" in call.prompt:
        return LEAD_S
    i = int(str(call.node)[1:])
    return claim_s(i) if "Pick ONE open task" in call.prompt else task_s(i)


def sim_latency(nodes: int) -> str:
    items = [f"lead=constant:{LEAD_S}"]
    for i in range(nodes):
        items += [f"n{i}.task=constant:{task_s(i)}", f"n{i}.claim=constant:{claim_s(i)}"]
        items.append(f"n{i}.lead=constant:{LEAD_S}")
    return ";".join(items)


def sim_team(topology: str, workers: int) -> SimTeam:
    # scripted_team names nodes n0..; under lead the first one is the lead (select_workers)
    if topology == "lead":
        return SimTeam(tuple(SimNode(f"n{i}") for i in range(1, workers + 1)), SimNode("n0"))
    return SimTeam(tuple(SimNode(f"n{i}") for i in range(workers)))


async def real_run(
    project: ProjectSpec, topology: str, workers: int, store: EventStore, inject: str | None = None
) -> tuple[str, float, int]:
    spec, backends = scripted_team(
        workers + (topology == "lead"), project_script, latency_s=scripted_latency
    )
    if inject:
        spec = apply_inject(spec, [inject])
    with VirtualClock():
        result = await run_project(
            spec, project, store, RunSettings(topology=topology, workers=workers), backends=backends
        )
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    return result.status, metrics.makespan_s, metrics.calls


def simulated(
    project: ProjectSpec, topology: str, workers: int, inject: str | None = None
) -> tuple[str, float, int]:
    nodes = workers + (topology == "lead")
    inputs = SimInputs(
        project.graph(),
        parse_latency(sim_latency(nodes)),
        faults=parse_inject([inject]) if inject else None,
    )
    # the scripted model claims the first pending task on the board, as project_script does
    settings_ = SimSettings(topology=topology, workers=workers, chooser="first-pending")
    result = simulate(settings_, inputs, sim_team(topology, workers))
    return result.status, result.metrics.makespan_s, result.metrics.calls


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("path", STUDY, ids=lambda p: p.stem)
async def test_simulated_makespan_matches_the_real_coordinator(
    path: Path, topology: str, store: EventStore
) -> None:
    project = load_project(path)
    for workers in (1, 2, 3, 5):
        real = await real_run(project, topology, workers, store)
        sim = simulated(project, topology, workers)
        assert real[0] == sim[0] == "done"
        assert sim[1] == pytest.approx(real[1], rel=0.05), (workers, real, sim)
        assert sim[2] == real[2]  # the same model calls, claims and lead calls included


@pytest.mark.parametrize(
    "inject",
    ["n1:crash=1", "n1:slow=4;n0:error=0.3;seed=3", "n1:garbage=0.5;n0:crash=3;seed=2"],
)
@pytest.mark.parametrize("topology", TOPOLOGIES)
async def test_faults_play_out_as_in_a_real_run(
    topology: str, inject: str, store: EventStore
) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p05"))
    for workers in (2, 3):
        real = await real_run(project, topology, workers, store, inject)
        sim = simulated(project, topology, workers, inject)
        assert sim[0] == real[0], (workers, real, sim)
        assert sim[1] == pytest.approx(real[1], rel=0.05), (workers, real, sim)


async def test_equal_latencies_agree_for_queued_topologies(store: EventStore) -> None:
    # no claims or lead calls to tie with: the schedule is the same however ties break
    for path in STUDY:
        project = load_project(path)
        for topology in ("preassign", "steal"):
            for workers in (1, 2, 3, 5):
                spec, backends = scripted_team(workers, project_script, latency_s=1.0)
                with VirtualClock() as clock:
                    await run_project(
                        spec,
                        project,
                        store,
                        RunSettings(topology=topology, workers=workers),
                        backends=backends,
                    )
                    real = clock.time()
                sim = simulate(
                    SimSettings(topology=topology, workers=workers),
                    SimInputs(project.graph(), parse_latency("constant:1")),
                )
                assert sim.metrics.makespan_s == pytest.approx(real, rel=0.05)


# -- properties ------------------------------------------------------------------------------


@st.composite
def graphs(draw: st.DrawFn) -> TaskGraph:
    n = draw(st.integers(1, 30))
    tasks = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        tasks.append((f"t{i}", [f"t{d}" for d in sorted(deps)]))
    sizes = draw(st.lists(st.floats(0.2, 5.0), min_size=n, max_size=n))
    return TaskGraph.build(tasks, {f"t{i}": s for i, s in enumerate(sizes)})


LATENCIES = st.sampled_from(["constant:2", "lognormal:3,0.6", "empirical:1,2,3,8"])


@settings(max_examples=60, deadline=None)
@given(
    graph=graphs(),
    topology=st.sampled_from(TOPOLOGIES),
    workers=st.integers(1, 8),
    latency=LATENCIES,
    seed=st.integers(0, 1000),
)
def test_makespan_never_beats_the_dag_lower_bound(
    graph: TaskGraph, topology: str, workers: int, latency: str, seed: int
) -> None:
    result = simulate(
        SimSettings(topology=topology, workers=workers, seed=seed),
        SimInputs(graph, parse_latency(latency)),
    )
    metrics = result.metrics
    assert result.status == "done"
    assert metrics.tasks_done == graph.n
    assert metrics.lower_bound_s is not None
    assert metrics.makespan_s >= metrics.lower_bound_s - 1e-6
    if latency == "constant:2":
        # with fixed task times the bound is known before the run: max(critical, work / n)
        mean = graph.total_time / graph.n
        bound = 2 * max(graph.critical_time, graph.total_time / workers) / mean
        assert metrics.makespan_s >= bound - 1e-6


@settings(max_examples=50, deadline=None)
@given(
    graph=graphs(),
    topology=st.sampled_from(TOPOLOGIES),
    workers=st.integers(2, 8),
    latency=LATENCIES,
    seed=st.integers(0, 1000),
)
def test_speedup_never_exceeds_n(
    graph: TaskGraph, topology: str, workers: int, latency: str, seed: int
) -> None:
    if topology in ("lead", "decentralized") and latency != "constant:2":
        # Coordination calls are model calls too: one worker pays one per task, a team fewer,
        # and with random latencies those few can be drawn short, so the team may beat n.
        # The bound holds for the work itself, i.e. with fixed call latencies.
        latency = "constant:2"
    # the same seed gives every task the same draws at every team size (common random numbers)
    inputs = SimInputs(graph, parse_latency(latency))
    one = simulate(SimSettings(topology=topology, workers=1, seed=seed), inputs)
    many = simulate(SimSettings(topology=topology, workers=workers, seed=seed), inputs)
    speedup = one.metrics.makespan_s / many.metrics.makespan_s
    assert speedup <= workers * (1 + 1e-6)  # metrics round times to microseconds


def test_same_seed_same_run_and_other_seed_other_draws() -> None:
    graph = load_project(STUDY[0]).graph()
    inputs = SimInputs(graph, parse_latency("lognormal:5,0.5"))
    a = simulate(SimSettings(topology="decentralized", workers=3, seed=4), inputs)
    b = simulate(SimSettings(topology="decentralized", workers=3, seed=4), inputs)
    c = simulate(SimSettings(topology="decentralized", workers=3, seed=5), inputs)
    assert a.metrics.makespan_s == b.metrics.makespan_s
    assert a.metrics.claims_refused == b.metrics.claims_refused
    assert c.metrics.makespan_s != a.metrics.makespan_s


def test_metrics_count_calls_messages_tokens_and_idle_time() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"]), ("c", [])])
    result = simulate(
        SimSettings(topology="preassign", workers=2),
        SimInputs(graph, parse_latency("constant:2")),
    )
    m = result.metrics
    assert m.makespan_s == 4.0 and m.calls == 3 and m.messages == 6
    assert m.prompt_tokens == 3000 and m.completion_tokens == 900  # the default token model
    busy = sorted(n.busy_s for n in m.nodes)
    assert busy == [2.0, 4.0]
    assert sorted(n.idle_s for n in m.nodes) == [0.0, 2.0]
    assert m.bound_ratio == 1.0 and m.rounds == 2
    assert {s.task for s in m.spans} == {"a", "b", "c"}


def test_per_node_overrides_and_stragglers() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(4)])
    fast = simulate(
        SimSettings(topology="preassign", workers=2), SimInputs(graph, parse_latency("constant:1"))
    )
    slow_node = simulate(
        SimSettings(topology="preassign", workers=2),
        SimInputs(graph, parse_latency("constant:1;n1=constant:5")),
    )
    straggler = simulate(
        SimSettings(topology="preassign", workers=2),
        SimInputs(graph, parse_latency("constant:1"), faults=parse_inject(["n1:slow=5"])),
    )
    stolen = simulate(
        SimSettings(topology="steal", workers=2),
        SimInputs(graph, parse_latency("constant:1"), faults=parse_inject(["n1:slow=5"])),
    )
    assert fast.metrics.makespan_s == 2.0
    assert slow_node.metrics.makespan_s == 10.0 == straggler.metrics.makespan_s
    assert stolen.metrics.makespan_s < straggler.metrics.makespan_s  # the fast node steals
    assert straggler.metrics.straggler_gap_s > fast.metrics.straggler_gap_s


def test_a_crashed_node_is_lost_and_its_work_moves() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(8)])
    result = simulate(
        SimSettings(topology="preassign", workers=3),
        SimInputs(graph, parse_latency("constant:1"), faults=parse_inject(["n1:crash=1"])),
    )
    m = result.metrics
    assert result.status == "done"
    node = {n.node: n for n in m.nodes}
    assert node["n1"].tasks_done == 1
    assert node["n0"].tasks_done + node["n2"].tasks_done == 7
    assert any(s.outcome == "interrupted" for s in m.spans)


def test_a_hanging_node_stalls_the_run() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"])])
    result = simulate(
        SimSettings(topology="preassign", workers=1),
        SimInputs(graph, parse_latency("constant:1"), faults=parse_inject(["n0:hang=1"])),
    )
    assert result.status == "stalled"
    assert result.metrics.tasks_done == 1


def test_redo_rate_costs_calls() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(50)])
    clean = simulate(
        SimSettings(topology="steal", workers=2), SimInputs(graph, parse_latency("constant:1"))
    )
    redo = simulate(
        SimSettings(topology="steal", workers=2, redo_rate=0.5),
        SimInputs(graph, parse_latency("constant:1")),
    )
    assert redo.metrics.calls > clean.metrics.calls
    assert redo.metrics.checks_failed > 0
    assert redo.metrics.makespan_s > clean.metrics.makespan_s


def test_claim_limit_stops_a_hopeless_run() -> None:
    graph = TaskGraph.build([("a", []), ("b", ["a"])])
    # every claim names a task that is not ready: refused, forever
    result = simulate(
        SimSettings(topology="decentralized", workers=2, refusal=1.0, max_claims=10),
        SimInputs(graph, parse_latency("constant:1")),
    )
    assert result.status in ("stalled", "done")
    assert result.metrics.claims_refused > 0


def test_lead_calls_are_on_the_lead_node_only() -> None:
    graph = TaskGraph.build([(f"t{i}", []) for i in range(6)])
    result = simulate(
        SimSettings(topology="lead", workers=3), SimInputs(graph, parse_latency("constant:1"))
    )
    m = result.metrics
    assert [n.node for n in m.nodes] == ["n0", "n1", "n2"]  # the lead is not a worker
    assert sum(n.calls for n in m.nodes) == 6  # one per task on the workers
    assert m.calls > 6  # and the lead's calls besides
    # the lead is asked as soon as a worker is idle, so simultaneous finishes are served one
    # call at a time: 1 s to assign three, then one worker per lead call
    assert m.makespan_s == 5.0


def test_scale_smoke() -> None:
    from lmteams.sim.generators import generate

    graph = generate("random:layered:tasks=20000,layers=10")
    result = simulate(
        SimSettings(topology="steal", workers=1000, keep_spans=False),
        SimInputs(graph, parse_latency("lognormal:10,0.5")),
    )
    assert result.status == "done" and result.events == 20000
    assert not result.metrics.spans
    assert math.isfinite(result.metrics.makespan_s)


@pytest.mark.parametrize(
    "inject", ["n1:crash=1", "n1:slow=2;n1:error=0.5;seed=3", "n0:crash=3;n1:error=0.5;seed=4"]
)
@pytest.mark.parametrize("topology", TOPOLOGIES)
async def test_failures_become_the_same_policy_inputs_in_both_shells(
    topology: str, inject: str, store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One copy of the rules (lmteams.scheduling.failures): the coordinator and the simulator
    # hand the policy the same task and node inputs, in the same order, for the same faults.
    from lmteams.scheduling import driver

    seen: list[driver.Input] = []
    take = driver.take

    def recording(policy: Policy, item: driver.Input) -> list[Decision]:
        if isinstance(item, driver.TaskDone | driver.TaskFailed | driver.NodeLost):
            seen.append(item)
        return take(policy, item)

    monkeypatch.setattr(driver, "take", recording)
    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p05"))
    failures = 0
    for workers in (2, 3):
        await real_run(project, topology, workers, store, inject)
        real, seen[:] = list(seen), []
        simulated(project, topology, workers, inject)
        sim, seen[:] = list(seen), []
        failures += sum(isinstance(i, driver.TaskFailed | driver.NodeLost) for i in real)
        assert sim == real, (workers, real, sim)
    assert failures  # the faults did reach the accounting


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_pauses_cyclic_gc_and_restores_it_as_it_was(
    enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    run = Engine.run

    def watched(self: Engine, run_id: str = "sim") -> object:
        seen.append(gc.isenabled())
        return run(self, run_id)

    monkeypatch.setattr(Engine, "run", watched)
    graph = TaskGraph.build([("a", []), ("b", ["a"])])
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        result = simulate(
            SimSettings(topology="steal", workers=2), SimInputs(graph, parse_latency("constant:1"))
        )
        assert result.status == "done" and seen == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_failed_run_still_restores_cyclic_gc(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Engine, run_id: str = "sim") -> object:
        raise RuntimeError("policy bug")

    monkeypatch.setattr(Engine, "run", broken)
    graph = TaskGraph.build([("a", [])])
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="policy bug"):
        simulate(
            SimSettings(topology="steal", workers=1), SimInputs(graph, parse_latency("constant:1"))
        )
    assert gc.isenabled()
