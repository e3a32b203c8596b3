from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmteams.config import TeamSpec
from lmteams.errors import ModelUnavailable
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.routing.dispatch import Router, call_role, router_for
from lmteams.routing.roles import RoleConfig, UnroutableTask
from lmteams.runtime.clock import VirtualClock
from lmteams.state.store import EventStore
from lmteams.team import Team


def specialists(
    nodes: list[tuple[str, str, tuple[str, ...]]],
    *,
    roles: dict[str, Any] | None = None,
    max_concurrent: int = 1,
) -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "models": {"m": {"backend": "scripted"}},
            "defaults": {"model": "m", "max_concurrent": max_concurrent},
            "nodes": [{"name": n, "role": r, "skills": list(s)} for n, r, s in nodes],
            "roles": roles or {},
        }
    )


def backend(
    latency: dict[str, float] | None = None, fail: set[str] | None = None
) -> ScriptedBackend:
    def script(call: ScriptedCall) -> str | BaseException:
        if fail and call.node in fail:
            return ModelUnavailable("down")
        return f"{call.node}: {call.prompt}"

    def latency_s(call: ScriptedCall) -> float:
        return (latency or {}).get(call.node or "", 1.0)

    return ScriptedBackend(script, latency_s=latency_s)


TEAM = specialists(
    [
        ("plan", "planner", ()),
        ("c1", "coder", ("python",)),
        ("c2", "coder", ("python", "sql")),
        ("rev", "reviewer", ()),
    ]
)
ROUND_ROBIN = RoleConfig(balance="round_robin")


async def test_a_routed_call_reaches_a_matching_node_and_is_logged(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend()}
    with VirtualClock():
        async with Team(TEAM, store, kind="test", backends=backends) as team:
            reply = await call_role(team, "coder", "write it", skills=("sql",), task="t1")
            run_id = team.run_id
    assert reply.node == "c2" and reply.text == "c2: write it"
    [route] = store.events(run_id, types=["route"])
    assert route.node == "c2"
    assert route.data == {
        "role": "coder",
        "policy": "least_outstanding",
        "queue_depth": 0,
        "utilization": 0.5,
        "outstanding": {"c1": 0, "c2": 1},
        "skills": ["sql"],
        "task": "t1",
    }
    types = [e.type for e in store.events(run_id)]
    assert types.index("route") < types.index("message")  # decided, then sent


async def test_unroutable_work_is_rejected_before_anything_is_sent(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend()}
    async with Team(TEAM, store, kind="test", backends=backends) as team:
        with pytest.raises(UnroutableTask, match="task 'deploy' needs role 'ops'"):
            await call_role(team, "ops", "ship it", task="deploy")
        with pytest.raises(UnroutableTask, match="skills go"):
            await call_role(team, "coder", "port it", skills=("go",))
        run_id = team.run_id
    assert store.events(run_id, types=["message", "route"]) == []


async def test_statistics_show_queue_depth_and_utilization(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend({"c1": 10.0, "c2": 10.0})}
    with VirtualClock() as clock:
        async with Team(TEAM, store, kind="test", backends=backends) as team:
            router = router_for(team)
            async with asyncio.TaskGroup() as group:
                for i in range(5):
                    group.create_task(router.call("coder", f"job {i}"))
                await asyncio.sleep(1.0)
                stats = router.statistics()["coder"]
                assert (stats.outstanding, stats.capacity, stats.queue_depth) == (5, 2, 3)
                assert stats.utilization == 1.0
                assert sorted(r.outstanding for r in stats.replicas) == [2, 3]
            done = router.statistics()["coder"]
            assert clock.time() == pytest.approx(30.0)  # 5 jobs of 10 s on 2 replicas
    assert (done.outstanding, done.completed, done.utilization) == (0, 5, 0.0)
    assert done.mean_latency_s == pytest.approx((10 + 10 + 20 + 20 + 30) / 5)
    assert {r.node: r.completed for r in done.replicas} == {"c1": 3, "c2": 2}
    assert router.statistics()["planner"].completed == 0


async def test_round_robin_role_alternates_even_with_a_slow_replica(store: EventStore) -> None:
    spec = TEAM.model_copy(update={"roles": {"coder": ROUND_ROBIN}})
    backends: dict[str, ModelBackend] = {"m": backend({"c1": 100.0, "c2": 1.0})}
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends) as team:
            replies = await asyncio.gather(*(call_role(team, "coder", str(i)) for i in range(6)))
    assert [r.node for r in replies] == ["c1", "c2"] * 3


async def test_least_outstanding_avoids_the_busy_replica(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend({"c1": 100.0, "c2": 1.0})}
    with VirtualClock():
        async with Team(TEAM, store, kind="test", backends=backends) as team:
            slow = asyncio.ensure_future(call_role(team, "coder", "long"))
            await asyncio.sleep(0)
            fast = [await call_role(team, "coder", str(i)) for i in range(5)]
            assert {r.node for r in fast} == {"c2"}
            assert (await slow).node == "c1"


async def test_a_failure_counts_against_the_replica_and_is_raised(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend(fail={"c1"})}
    with VirtualClock():
        async with Team(TEAM, store, kind="test", backends=backends) as team:
            router = Router(team)
            with pytest.raises(ModelUnavailable):
                await router.call("coder", "x")
            reply = await router.call("coder", "y")
            stats = router.statistics()["coder"]
    assert reply.node == "c2"
    assert {r.node: (r.failed, r.completed, r.outstanding) for r in stats.replicas} == {
        "c1": (1, 0, 0),
        "c2": (0, 1, 0),
    }


async def test_cancelled_calls_release_their_replica(store: EventStore) -> None:
    backends: dict[str, ModelBackend] = {"m": backend({"c1": 50.0, "c2": 50.0})}
    with VirtualClock():
        async with Team(TEAM, store, kind="test", backends=backends) as team:
            router = Router(team)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(5):
                    await router.call("coder", "x")
            stats = router.statistics()["coder"]
    assert stats.outstanding == 0 and stats.failed == 0


async def test_a_resumed_keyed_call_goes_back_to_its_node(store: EventStore) -> None:
    scripted = backend()
    backends: dict[str, ModelBackend] = {"m": scripted}
    spec = TEAM.model_copy(update={"roles": {"coder": ROUND_ROBIN}})
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends) as team:
            await call_role(team, "coder", "warm-up")  # c1; the next pick is c2
            first = await call_role(team, "coder", "task", key="task-1/0")
            run_id = team.run_id
        assert first.node == "c2" and scripted.calls == 2
        async with Team(
            spec, store, kind="test", backends=backends, run_id=run_id, resume=True
        ) as again:
            replayed = await call_role(again, "coder", "task", key="task-1/0")
    assert replayed == first and again.replayed == 1 and scripted.calls == 2


# -- property: work only ever reaches matching nodes ------------------------------------------

ROLES = ("planner", "coder", "reviewer")
SKILLS = ("python", "sql", "go")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(
        st.tuples(st.sampled_from(ROLES), st.sets(st.sampled_from(SKILLS))),
        min_size=1,
        max_size=6,
    ),
    tasks=st.lists(
        st.tuples(
            st.sampled_from((*ROLES, "ops")) | st.none(),
            st.sets(st.sampled_from(SKILLS), max_size=2),
        ),
        max_size=12,
    ),
    policy=st.sampled_from(
        ("round_robin", "least_outstanding", "power_of_two", "weighted_throughput", "cheapest")
    ),
)
def test_tasks_only_reach_matching_nodes(
    nodes: list[tuple[str, set[str]]],
    tasks: list[tuple[str | None, set[str]]],
    policy: str,
) -> None:
    spec = specialists(
        [(f"n{i}", role, tuple(sorted(skills))) for i, (role, skills) in enumerate(nodes)],
        roles={role: {"balance": policy} for role in {r for r, _ in nodes}},
        max_concurrent=2,
    )
    served: Counter[str] = Counter()

    def script(call: ScriptedCall) -> str:
        served[call.node or ""] += 1
        return call.prompt

    async def run() -> None:
        store = EventStore(":memory:")
        backends: dict[str, ModelBackend] = {"m": ScriptedBackend(script, latency_s=1.0)}
        with VirtualClock():
            async with Team(spec, store, kind="test", backends=backends) as team:

                async def one(index: int, role: str | None, skills: set[str]) -> None:
                    wanted = tuple(sorted(skills))
                    try:
                        reply = await call_role(team, role, f"t{index}", skills=wanted)
                    except UnroutableTask as exc:
                        assert exc.task == (role or "request")
                        assert not any(
                            (role is None or n.role == role) and skills <= set(n.skills)
                            for n in spec.nodes
                        )
                        return
                    node = spec.node(reply.node)
                    assert role is None or node.role == role
                    assert skills <= set(node.skills)

                async with asyncio.TaskGroup() as group:
                    for index, (role, skills) in enumerate(tasks):
                        group.create_task(one(index, role, skills))
        store.close()

    asyncio.run(run())
    assert sum(served.values()) <= len(tasks)
