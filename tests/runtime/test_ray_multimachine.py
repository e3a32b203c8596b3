"""The Ray runtime on a cluster of several machines: Ray nodes started on this one machine with
``ray.cluster_utils.Cluster``, each on its own loopback address (machine ``a``, the head where
this process connects, is 127.0.0.1; ``b`` is 127.0.0.2...). Verifies that every actor runs on
the machine its placement plan names, and that a task-graph run survives losing a machine.
Starts Ray: runs only in a loopback-only namespace (see tests/runtime/conftest.py)."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.ray.placement import ActorPlan
from lmteams.runtime.ray.runtime import RayRuntime
from lmteams.runtime.ray.settings import RaySettings, RolePlacement
from lmteams.scheduling.project import load_project
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import project_script, scripted_team
from tests.conftest import loopback_only
from tests.runtime.conftest import SKIP_REASON

from ..scheduling.test_graph import STUDY

pytestmark = [pytest.mark.ray, pytest.mark.skipif(not loopback_only(), reason=SKIP_REASON)]

# Ray declares a machine that stopped answering dead after failure_threshold missed health
# checks (default 5 x 3 s); a machine lost here is noticed in about 3 s instead.
FAST_FAILURE_DETECTION = {
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


@dataclass(slots=True)
class Machines:
    """A running test cluster; machines are labelled ``a`` (the head), ``b``, ``c``..."""

    cluster: Any
    nodes: dict[str, Any]  # label -> ray._private.node.Node, while it runs
    ids: dict[str, str]  # label -> Ray node id

    def label(self, machine_id: str) -> str:
        return next(label for label, id_ in self.ids.items() if id_ == machine_id)

    def lose(self, label: str) -> None:
        """Kill every process of machine ``label`` at once, as when it crashes."""
        self.cluster.remove_node(self.nodes.pop(label), allow_graceful=False)


@pytest.fixture
def machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Machines]]:
    """Starts a cluster and connects this process to it: ``machines(b={"gpu": 1}, c={})`` gives
    head ``a`` and machines ``b`` and ``c`` with those custom resources, one CPU each.

    The cluster is shut down when the test ends, pass or fail. A Ray instance this process was
    already connected to (the session's, see conftest) is stopped first and started again after.
    """
    import ray
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    from lmteams.runtime.ray.cluster import start_local

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    had_ray = ray.is_initialized()
    if had_ray:
        ray.shutdown()
    module = sys.modules[__name__]
    # Scripts defined here reach the actors by value: this module is not importable there.
    cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    started: list[Any] = []

    def start(**workers: Mapping[str, float]) -> Machines:
        cluster = Cluster()
        started.append(cluster)
        head = cluster.add_node(
            num_cpus=1,
            node_ip_address="127.0.0.1",
            include_dashboard=False,
            _system_config=FAST_FAILURE_DETECTION,
        )
        nodes = {"a": head}
        for index, (label, resources) in enumerate(workers.items(), start=2):
            nodes[label] = cluster.add_node(
                num_cpus=1, resources=dict(resources), node_ip_address=f"127.0.0.{index}"
            )
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        assert ray.get_runtime_context().get_node_id() == head.node_id
        return Machines(cluster, nodes, {label: node.node_id for label, node in nodes.items()})

    try:
        yield start
    finally:
        try:
            ray.shutdown()
            for cluster in started:
                cluster.shutdown()
        finally:
            cloudpickle.unregister_pickle_by_value(module)  # type: ignore[no-untyped-call]
            if had_ray:
                start_local(num_cpus=2)


def machine_of_call(call: ScriptedCall) -> str:
    """Answers with the id of the Ray machine the model call ran on."""
    import ray

    return str(ray.get_runtime_context().get_node_id())


async def test_every_actor_runs_on_the_machine_its_plan_names(
    store: EventStore, machines: Callable[..., Machines]
) -> None:
    """Coders need a resource only machine ``b`` has: both coder actors run on ``b``; the roles
    that share actors get ``actors_per_machine`` (2) actors on each machine. Where an actor runs
    is asked of the actor (its Ray node); where a node's calls ran, of its model."""
    cluster = machines(b={"machine_b": 2})
    spec, backends = scripted_team(6, machine_of_call, roles=["coder", "reviewer", "tester"])
    coder = RolePlacement(resources={"machine_b": 1})
    runtime = RayRuntime(settings=RaySettings(actors_per_machine=2, roles={"coder": coder}))
    async with Team(spec, store, kind="t", runtime=runtime, backends=backends) as team:
        rows = await runtime.actor_statistics()
        replies = await asyncio.gather(*(team.call(n, "where?") for n in spec.node_names))

    planned = [(p.group, p.nodes, cluster.label(p.machine)) for p in runtime.plans]
    assert planned == [
        ("coder", ("n0",), "b"),
        ("coder", ("n3",), "b"),
        ("*", ("n1",), "a"),  # shared actors: each role's nodes together, machines in turn
        ("*", ("n4",), "b"),
        ("*", ("n2",), "a"),
        ("*", ("n5",), "b"),
    ]
    assert [cluster.label(row["machine"]) for row in rows] == [m for *_, m in planned]
    assert {r.node: cluster.label(r.text) for r in replies} == {
        "n0": "b",
        "n1": "a",
        "n2": "a",
        "n3": "b",
        "n4": "b",
        "n5": "b",
    }


async def busy_actors_on(
    runtime: RayRuntime,
    store: EventStore,
    cluster: Machines,
    label: str,
    run: asyncio.Future[Any],
    *,
    tasks_done: int,
) -> list[ActorPlan]:
    """Waits until ``run`` has done ``tasks_done`` tasks and every actor on machine ``label``
    is running a call (each says so, and where it runs); returns those actors' plans."""
    for _ in range(1200):
        await asyncio.sleep(0.05)
        if run.done():
            raise AssertionError(f"the run ended before a call ran on machine {label}")
        runs = store.runs()
        if not runs or not runtime.statistics():  # the actors serve once their slots exist
            continue
        if len(store.events(runs[0].run_id, types=["task_done"])) < tasks_done:
            continue
        plans = [p for p in runtime.plans if cluster.label(p.machine) == label]
        assert plans, f"no actor was placed on machine {label}"
        rows = await asyncio.gather(
            *(runtime.actor_of(p.nodes[0]).statistics.remote() for p in plans)
        )
        if all(row["running"] for row in rows):
            assert {cluster.label(row["machine"]) for row in rows} == {label}
            return plans
    raise TimeoutError(f"no call ran on machine {label} within a minute")


async def test_a_run_survives_losing_a_machine_and_does_every_task_once(
    store: EventStore, machines: Callable[..., Machines]
) -> None:
    """Machine ``b`` is killed while its actor runs a call of a task-graph run (steal topology,
    three machines). The runtime notices and logs it: b's actor is lost once and restarted once,
    on a machine still alive, where b's nodes answer again; the others never lose theirs. The
    run finishes with every task done exactly once and every request and reply logged once."""
    cluster = machines(b={}, c={})
    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    spec, backends = scripted_team(4, project_script, latency_s=0.4)
    runtime = RayRuntime(settings=RaySettings(actors_per_machine=1))
    settings = RunSettings(topology="steal", workers=4)
    run = asyncio.ensure_future(
        run_project(spec, project, store, settings, backends=backends, runtime=runtime)
    )
    try:
        lost = await busy_actors_on(runtime, store, cluster, "b", run, tasks_done=3)
        cluster.lose("b")
        before = store.events(store.runs()[0].run_id)[-1].seq
        result = await run
    finally:
        run.cancel()  # when the test failed before the run ended; else a no-op

    assert result.status == "done" and set(result.tasks.values()) == {"done"}
    done = Counter(e.data["task"] for e in store.events(result.run_id, types=["task_done"]))
    assert sorted(done) == sorted(result.tasks) and set(done.values()) == {1}
    messages = store.events(result.run_id, types=["message"])
    kinds = Counter(e.data["kind"] for e in messages)
    assert kinds["request"] == kinds["reply"] == len(result.tasks)  # resent work logged once
    lost_actors = {f"nodes-{p.index}" for p in lost}
    rows = {
        row["actor"]: (row["losses"], row["restarts"], row["dead"])
        for row in await runtime.actor_statistics()
    }
    assert rows == {a: (1, 1, None) if a in lost_actors else (0, 0, None) for a in rows}
    assert runtime.resent >= 1  # the call cut on b ran again elsewhere
    logged = store.events(result.run_id, types=["actor_lost", "actor_restarted", "actor_dead"])
    assert [(e.type, e.data["actor"]) for e in logged] == [
        (kind, actor) for actor in sorted(lost_actors) for kind in ("actor_lost", "actor_restarted")
    ]
    assert {cluster.label(e.data["machine"]) for e in logged} == {"b"}
    assert sum(e.data.get("resent", 0) for e in logged) == runtime.resent
    answered_after = {e.node for e in messages if e.seq > before and e.data["kind"] == "reply"}
    assert answered_after >= {n for p in lost for n in p.nodes}
