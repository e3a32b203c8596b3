from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.runtime.ray.placement import (
    SHARED,
    Machine,
    NodeDemand,
    machines_for,
    plan_actors,
)
from lmteams.runtime.ray.settings import RaySettings

ONE = [Machine("m1", "10.0.0.1", {"CPU": 2.0})]
TWO = [*ONE, Machine("m2", "10.0.0.2", {"CPU": 8.0, "GPU": 1.0, "big": 1.0})]


def team(roles: list[str]) -> list[NodeDemand]:
    return [NodeDemand(f"n{i}", role, {}, i) for i, role in enumerate(roles)]


def test_roles_without_settings_share_actors_kept_together_by_role() -> None:
    nodes = team(["a", "b", "a", "b", "a", "c"])
    plans = plan_actors(nodes, ONE, RaySettings(actors_per_machine=2))
    assert [p.nodes for p in plans] == [("n0", "n2", "n4"), ("n1", "n3", "n5")]
    assert {p.group for p in plans} == {SHARED} and {p.machine for p in plans} == {"m1"}


def test_a_configured_role_gets_its_own_actors_on_the_machines_that_fit() -> None:
    nodes = team(["solver", "critic", "solver", "critic"])
    settings = RaySettings(
        actors_per_machine=1, roles={"solver": {"resources": {"GPU": 1}, "actors_per_machine": 1}}
    )
    plans = plan_actors(nodes, TWO, settings)
    solver = [p for p in plans if p.group == "solver"]
    shared = [p for p in plans if p.group == SHARED]
    assert [(p.nodes, p.machine, dict(p.resources)) for p in solver] == [
        (("n0", "n2"), "m2", {"GPU": 1.0})
    ]
    # one actor per machine for the rest: two machines, two actors, one critic each
    assert sorted((p.nodes, p.machine) for p in shared) == [(("n1",), "m1"), (("n3",), "m2")]


def test_nodes_per_actor_caps_actors_and_one_gives_the_naive_layout() -> None:
    nodes = team(["a"] * 10)
    assert [len(p.nodes) for p in plan_actors(nodes, ONE, RaySettings(nodes_per_actor=4))] == [
        4,
        3,
        3,
    ]
    naive = plan_actors(nodes, ONE, RaySettings(nodes_per_actor=1))
    assert [p.nodes for p in naive] == [(f"n{i}",) for i in range(10)]


def test_node_resources_are_summed_per_actor_and_actors_split_to_fit() -> None:
    nodes = [NodeDemand(f"n{i}", "a", {"CPU": 1.0}, i) for i in range(4)]
    machines = [Machine("m1", "a", {"CPU": 3.0}), Machine("m2", "b", {"CPU": 1.0})]
    plans = plan_actors(nodes, machines, RaySettings(actors_per_machine=1))
    assert [(p.nodes, p.machine, dict(p.resources)) for p in plans] == [
        (("n0", "n1"), "m1", {"CPU": 2.0}),
        (("n2",), "m2", {"CPU": 1.0}),  # (n2, n3) fit nowhere: split in two
        (("n3",), "m1", {"CPU": 1.0}),
    ]
    with pytest.raises(ConfigError) as info:  # 4 CPUs wanted, 2 exist
        plan_actors(nodes, ONE, RaySettings())
    assert info.value.field == "nodes[2].resources"
    assert "not enough free resources for node 'n2'" in str(info.value)


def test_nodes_that_need_different_resources_never_share_an_actor() -> None:
    nodes = [
        NodeDemand("g", "a", {"big": 0.5}, 0),
        NodeDemand("x", "a", {}, 1),
        NodeDemand("y", "a", {}, 2),
    ]
    plans = plan_actors(nodes, TWO, RaySettings(actors_per_machine=1))
    assert (plans[0].nodes, plans[0].machine) == (("g",), "m2")
    assert sorted(n for p in plans[1:] for n in p.nodes) == ["x", "y"]


def test_resources_no_machine_has_are_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        plan_actors(team(["solver"]), ONE, RaySettings(roles={"solver": {"resources": {"TPU": 1}}}))
    assert info.value.field == "ray.roles.solver.resources"
    assert "TPU: 1" in str(info.value) and "10.0.0.1 {CPU: 2}" in str(info.value)
    with pytest.raises(ConfigError) as info:
        plan_actors([NodeDemand("a", "r", {"GPU": 2.0}, 3)], TWO, RaySettings())
    assert info.value.field == "nodes[3].resources"
    with pytest.raises(ConfigError, match="actor_cpus|CPU: 4"):
        plan_actors(team(["r"]), ONE, RaySettings(actor_cpus=4))
    with pytest.raises(ConfigError, match="no live machines"):
        plan_actors(team(["r"]), [], RaySettings())


def test_machines_for_lists_where_each_model_is_used() -> None:
    plans = plan_actors(team(["a", "b", "a", "b"]), TWO, RaySettings(actors_per_machine=1))
    model_of = {"n0": "smol", "n1": "api", "n2": "smol", "n3": "smol"}
    where = machines_for(plans, model_of, ["smol", "unused"])
    assert where == {"smol": ["m1", "m2"]}


@settings(max_examples=150, deadline=None)
@given(
    roles=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=60),
    per_machine=st.integers(1, 5),
    cap=st.one_of(st.none(), st.integers(1, 9)),
    machine_count=st.integers(1, 4),
    own_role=st.booleans(),
)
def test_every_node_lands_in_exactly_one_actor(
    roles: list[str], per_machine: int, cap: int | None, machine_count: int, own_role: bool
) -> None:
    machines = [Machine(f"m{i}", f"10.0.0.{i}", {"CPU": 4.0}) for i in range(machine_count)]
    settings_ = RaySettings(
        actors_per_machine=per_machine,
        nodes_per_actor=cap,
        roles={"a": {}} if own_role else {},
    )
    nodes = team(roles)
    plans = plan_actors(nodes, machines, settings_)
    placed = Counter(n for p in plans for n in p.nodes)
    assert placed == Counter(n.name for n in nodes)
    assert all(p.nodes for p in plans) and [p.index for p in plans] == list(range(len(plans)))
    role_of = {n.name: n.role for n in nodes}
    for plan in plans:
        if cap is not None:
            assert len(plan.nodes) <= cap
        plan_roles = [role_of[n] for n in plan.nodes]
        if own_role:
            assert ("a" in plan_roles) == (plan_roles == ["a"] * len(plan_roles))
        # a role's nodes are contiguous inside a shared actor
        assert plan_roles == sorted(plan_roles, key=plan_roles.index)
    per_group = Counter(p.group for p in plans)
    for group, count in per_group.items():
        size = sum(len(p.nodes) for p in plans if p.group == group)
        assert count >= min(size, per_machine * machine_count)
