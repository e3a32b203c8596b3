from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.config import NodeSpec, TeamSpec, parse_team
from lmteams.errors import ConfigError
from lmteams.routing.roles import (
    Requirement,
    RoleConfig,
    UnroutableTask,
    check_routable,
    nodes_for,
    restrict_to_role,
    role_config,
    roles_of,
    serves,
    unroutable_reason,
)

ROLES = ("planner", "coder", "reviewer")
SKILLS = ("python", "sql", "go")


def team(*nodes: tuple[str, str, tuple[str, ...]], **extra: object) -> TeamSpec:
    return TeamSpec.model_validate(
        {
            "nodes": [{"name": n, "role": r, "skills": list(s)} for n, r, s in nodes],
            **extra,
        }
    )


SPECIALISTS = team(
    ("plan", "planner", ()),
    ("c1", "coder", ("python",)),
    ("c2", "coder", ("python", "sql")),
    ("rev", "reviewer", ()),
)


def test_nodes_for_matches_role_and_every_skill() -> None:
    assert [n.name for n in nodes_for("coder", (), SPECIALISTS)] == ["c1", "c2"]
    assert [n.name for n in nodes_for("coder", ("sql",), SPECIALISTS)] == ["c2"]
    assert [n.name for n in nodes_for(None, ("python",), SPECIALISTS)] == ["c1", "c2"]
    assert nodes_for("coder", ("go",), SPECIALISTS) == ()
    assert roles_of(SPECIALISTS) == {
        "planner": ("plan",),
        "coder": ("c1", "c2"),
        "reviewer": ("rev",),
    }


def test_missing_role_error_names_the_task_and_the_role() -> None:
    with pytest.raises(UnroutableTask) as info:
        check_routable(
            [Requirement("plan", "planner"), Requirement("write-tests", "tester")], SPECIALISTS
        )
    error = info.value
    assert error.task == "write-tests" and error.role == "tester"
    assert "task 'write-tests' needs role 'tester'" in str(error)
    assert "roles: planner, coder, reviewer" in str(error)
    assert isinstance(error, ConfigError)  # a CLI reports it in one line, exit code 2


def test_missing_skills_error_lists_the_role_members() -> None:
    reason = unroutable_reason(Requirement("port", "coder", ("go",)), SPECIALISTS)
    assert reason is not None
    assert "role 'coder' with skills go" in reason
    assert "c1 [python]; c2 [python, sql]" in reason
    reason = unroutable_reason(Requirement("x", None, ("go", "sql")), SPECIALISTS)
    assert reason == "task 'x' needs skills go, sql, which no single node has all of"


def test_every_unroutable_task_is_counted() -> None:
    with pytest.raises(UnroutableTask, match=r"\(and 1 more unroutable\)"):
        check_routable([Requirement("a", "x"), Requirement("b", "y")], SPECIALISTS)
    check_routable([Requirement("a", "coder", ("sql",))], SPECIALISTS)  # no error


def test_restrict_to_role_for_ask() -> None:
    coders = restrict_to_role(SPECIALISTS, "coder")
    assert coders.node_names == ("c1", "c2")
    with pytest.raises(UnroutableTask) as info:
        restrict_to_role(SPECIALISTS, "tester")
    assert info.value.field == "--role"
    assert str(info.value).startswith("--role: no node to ask: the question needs role 'tester'")


def test_roles_section_in_a_team_file() -> None:
    spec = parse_team(
        {
            "nodes": [{"name": "a", "role": "coder"}, {"name": "b", "role": "coder"}],
            "roles": {"coder": {"balance": "power_of_two", "seed": 3}},
        },
        source="t.yaml",
    )
    assert role_config(spec, "coder") == RoleConfig(balance="power_of_two", seed=3)
    assert role_config(spec, "other").policy == "least_outstanding"
    assert role_config(spec, "other").balance is None  # not a replica group


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"tester": {}}, "t.yaml: roles.tester: no node has role 'tester'; node roles: coder"),
        ({"coder": {"balance": "random"}}, "t.yaml: roles.coder.balance: Input should be"),
        ({"coder": {"spill_at": 0}}, "t.yaml: roles.coder.spill_at: Input should be greater"),
        ({"coder": {"balanse": "cheapest"}}, "t.yaml: roles.coder.balanse: unknown field"),
    ],
)
def test_bad_roles_section(roles: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_team({"nodes": [{"name": "a", "role": "coder"}], "roles": roles}, source="t.yaml")
    assert str(info.value).startswith(message)


# -- properties ---------------------------------------------------------------------------------

node_specs = st.lists(
    st.tuples(st.sampled_from(ROLES), st.sets(st.sampled_from(SKILLS))), min_size=1, max_size=8
)
requirements = st.tuples(
    st.one_of(st.none(), st.sampled_from((*ROLES, "tester"))),
    st.sets(st.sampled_from(SKILLS), max_size=2),
)


@given(node_specs, requirements)
def test_matching_is_exact(
    nodes: list[tuple[str, set[str]]], need: tuple[str | None, set[str]]
) -> None:
    spec = team(*((f"n{i}", role, tuple(sorted(skills))) for i, (role, skills) in enumerate(nodes)))
    role, skills = need
    found = nodes_for(role, skills, spec)
    for node in spec.nodes:
        matches = (role is None or node.role == role) and skills <= set(node.skills)
        assert (node in found) == matches == serves(node, role, skills)
    requirement = Requirement("t", role, tuple(sorted(skills)))
    if found:
        check_routable([requirement], spec)
    else:
        with pytest.raises(UnroutableTask, match="task 't' needs"):
            check_routable([requirement], spec)


def test_node_spec_defaults_are_routable() -> None:
    spec = TeamSpec(nodes=(NodeSpec(name="a"),))
    assert nodes_for("generalist", (), spec) == spec.nodes
