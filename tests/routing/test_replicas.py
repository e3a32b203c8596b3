"""Replica groups: a call addressed to a node of a role with ``balance`` set is served by the
replica the role's policy picks (Team.call, so every caller: ask, run, the strategies)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from lmteams.config import TeamSpec
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.routing.balancer import replica_groups
from lmteams.runtime.clock import VirtualClock
from lmteams.state.store import EventStore
from lmteams.team import Reply, Team

SLOW_S = {"slow": 100.0, "fast": 1.0, "other": 1.0, "sql": 1.0}


def team_spec(
    roles: dict[str, Any] | None = None,
    nodes: list[dict[str, Any]] | None = None,
    max_concurrent: int = 1,
    dear: float = 0.0,
) -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "models": {
                "m": {"backend": "scripted", "prices": {"input_per_mtok": dear}},
                "cheap": {"backend": "scripted"},
            },
            "defaults": {"model": "m", "max_concurrent": max_concurrent},
            "nodes": nodes
            or [
                {"name": "slow", "role": "solver"},
                {"name": "fast", "role": "solver"},
                {"name": "other", "role": "critic"},
            ],
            "roles": roles or {},
        }
    )


def scripted() -> ScriptedBackend:
    def latency_s(call: ScriptedCall) -> float:
        return SLOW_S.get(call.node or "", 1.0)

    return ScriptedBackend(lambda call: f"{call.node} says {call.prompt}", latency_s=latency_s)


async def sequential_calls(
    spec: TeamSpec, store: EventStore, node: str, n: int, **kwargs: Any
) -> tuple[list[Reply], str]:
    backend = scripted()
    backends: dict[str, ModelBackend] = {"m": backend, "cheap": backend}
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends, **kwargs) as team:
            replies = [await team.call(node, f"q{i}") for i in range(n)]
            return replies, team.run_id


def served(replies: list[Reply]) -> Counter[str]:
    return Counter(r.served_by or r.node for r in replies)


async def test_the_policy_decides_which_replica_serves(store: EventStore) -> None:
    """least_outstanding learns that `slow` is slow and sends its calls to `fast`;
    round_robin keeps sending every other call to `slow`."""
    least, _ = await sequential_calls(
        team_spec({"solver": {"balance": "least_outstanding"}}), store, "slow", 6
    )
    rotate, _ = await sequential_calls(
        team_spec({"solver": {"balance": "round_robin"}}), store, "slow", 6
    )
    assert served(least) == {"slow": 1, "fast": 5}
    assert served(rotate) == {"slow": 3, "fast": 3}
    # Every reply is the addressed node's; the replica that answered is served_by.
    assert {r.node for r in least + rotate} == {"slow"}
    assert [r.served_by for r in least] == [None] + ["fast"] * 5
    assert all(r.text.startswith(f"{r.served_by or r.node} says") for r in least + rotate)


async def test_the_route_names_the_addressed_node(store: EventStore) -> None:
    spec = team_spec({"solver": {"balance": "least_outstanding"}})
    _, run_id = await sequential_calls(spec, store, "slow", 2)
    routes = store.events(run_id, types=["route"])
    assert [(e.node, e.data["addressed"], e.data["role"]) for e in routes] == [
        ("slow", "slow", "solver"),
        ("fast", "slow", "solver"),
    ]


async def test_without_balance_each_node_serves_its_own_calls(store: EventStore) -> None:
    spec = team_spec({"solver": {"description": "solves"}})  # a roles entry, no balance
    assert replica_groups(spec) == {}
    replies, run_id = await sequential_calls(spec, store, "slow", 3)
    assert served(replies) == {"slow": 3}
    assert store.events(run_id, types=["route"]) == []


async def test_other_roles_are_not_balanced(store: EventStore) -> None:
    spec = team_spec({"solver": {"balance": "round_robin"}})
    assert replica_groups(spec) == {"slow": "solver", "fast": "solver"}
    replies, _ = await sequential_calls(spec, store, "other", 3)
    assert served(replies) == {"other": 3}


def test_a_role_of_one_node_is_no_group() -> None:
    spec = team_spec({"critic": {"balance": "round_robin"}})
    assert replica_groups(spec) == {}


async def test_a_replica_needs_the_addressed_nodes_skills(store: EventStore) -> None:
    nodes = [
        {"name": "sql", "role": "solver", "skills": ["sql"]},
        {"name": "fast", "role": "solver"},
        {"name": "slow", "role": "solver", "skills": ["sql"]},
    ]
    spec = team_spec({"solver": {"balance": "round_robin"}}, nodes)
    replies, _ = await sequential_calls(spec, store, "sql", 4)
    assert served(replies) == {"sql": 2, "slow": 2}  # never `fast`, which lacks sql


async def test_cheapest_spills_at_spill_at(store: EventStore) -> None:
    """`cheapest` fills the cheap replica up to `spill_at` outstanding calls, then spills."""
    nodes = [
        {"name": "fast", "role": "solver"},
        {"name": "other", "role": "solver", "model": "cheap"},
    ]

    def spec(spill_at: int | None) -> TeamSpec:
        roles = {"solver": {"balance": "cheapest", "spill_at": spill_at}}
        return team_spec(roles, nodes, max_concurrent=4, dear=1.0)

    async def fan_out(spec: TeamSpec) -> Counter[str]:
        backend = scripted()
        backends: dict[str, ModelBackend] = {"m": backend, "cheap": backend}
        with VirtualClock():
            async with Team(spec, store, kind="test", backends=backends) as team:
                replies = await asyncio.gather(*(team.call("fast", str(i)) for i in range(4)))
        return served(list(replies))

    assert await fan_out(spec(None)) == {"other": 4}  # spills at max_concurrent (4)
    assert await fan_out(spec(2)) == {"other": 2, "fast": 2}


async def test_power_of_two_follows_its_seed(store: EventStore) -> None:
    nodes = [{"name": f"r{i}", "role": "solver"} for i in range(4)]

    async def picks(seed: int) -> list[str]:
        spec = team_spec({"solver": {"balance": "power_of_two", "seed": seed}}, nodes)
        replies, _ = await sequential_calls(spec, store, "r0", 12)
        return [r.served_by or r.node for r in replies]

    assert await picks(1) == await picks(1)
    assert len({tuple(await picks(seed)) for seed in range(4)}) > 1


async def test_a_resumed_run_sends_each_call_to_its_replica_again(store: EventStore) -> None:
    """Keyed calls replay from their committed results, unkeyed ones (ask) from the log."""
    spec = team_spec({"solver": {"balance": "round_robin"}})
    backend = scripted()
    backends: dict[str, ModelBackend] = {"m": backend, "cheap": backend}
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends) as team:
            first = [await team.call("slow", "warm-up"), await team.call("slow", "task", key="k")]
            first.append(await team.call("slow", "unkeyed"))
            run_id = team.run_id
        assert served(first) == {"slow": 2, "fast": 1}
        assert backend.calls == 3
        async with Team(
            spec,
            store,
            kind="test",
            backends=backends,
            run_id=run_id,
            resume=True,
            replay_unkeyed=True,
        ) as again:
            # A fresh round-robin would send the first call to `slow`, not to `fast`.
            again_replies = [
                await again.call("slow", "task", key="k"),
                await again.call("slow", "warm-up"),
                await again.call("slow", "unkeyed"),
            ]
    assert [r.served_by or r.node for r in again_replies] == ["fast", "slow", "slow"]
    assert again.replayed == 3 and backend.calls == 3
    assert [r.text for r in again_replies] == [first[1].text, first[0].text, first[2].text]


@pytest.mark.parametrize("policy", ["round_robin", "least_outstanding"])
async def test_a_failing_replica_counts_and_raises(store: EventStore, policy: str) -> None:
    from lmteams.errors import ModelUnavailable

    def script(call: ScriptedCall) -> str | BaseException:
        return ModelUnavailable("down") if call.node == "slow" else "ok"

    spec = team_spec({"solver": {"balance": policy}})
    backends: dict[str, ModelBackend] = {"m": ScriptedBackend(script, latency_s=1.0)}
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends) as team:
            with pytest.raises(ModelUnavailable):
                await team.call("slow", "x")  # both policies try `slow` first
            ok = await team.call("slow", "y")
            stats = team.balancer.statistics(0.0)["solver"]
    assert ok.served_by == "fast"
    assert {r.node: (r.failed, r.completed) for r in stats.replicas} == {
        "slow": (1, 0),
        "fast": (0, 1),
    }
