from __future__ import annotations

from typing import Any

import pytest

from lmteams.scheduling import prompts
from lmteams.scheduling.dynamic import AddDependency, AddTask, SplitTask
from lmteams.scheduling.edits import edited_graph, project_after, read_edit
from lmteams.scheduling.project import builtin_project, load_project

TINY = load_project(builtin_project("tiny-math"))


def test_the_prompt_names_every_edit_action() -> None:
    text = prompts.dynamic_prompt(TINY, "Done: nothing yet\nOpen tasks:\n- add [pending]", "n0")
    for action in ("add_task", "split_task", "add_dependency", '"claim"', '"edits"'):
        assert action in text
    assert "no edit may make a cycle" in text


@pytest.mark.parametrize(
    ("reply", "claim", "edits", "detail"),
    [
        ("add", "add", [], ""),
        ("I will take square next.", "I will take square next.", [], ""),
        ('{"claim": "greet", "edits": []}', "greet", [], ""),
        (
            '```json\n{"claim": "add", "edits": [{"action": "x"}]}\n```',
            "add",
            [{"action": "x"}],
            "",
        ),
        ('{"claim": null, "edits": {"action": "x"}}', "", [], "'edits' must be a list"),
        ('{"claim": 3}', "", [], ""),
        (
            '{"claim": "add", "edits": [' + ", ".join(["{}"] * 9) + "]}",
            "add",
            [{}] * prompts.MAX_EDITS_PER_REPLY,
            "only the first 8 edits are read",
        ),
    ],
)
def test_parse_dynamic(reply: str, claim: str, edits: list[Any], detail: str) -> None:
    assert prompts.parse_dynamic(reply) == (claim, edits, detail)


def test_resolve_claim_after_edits() -> None:
    assert prompts.resolve_claim("report", ("add", "report")) == "report"
    assert prompts.resolve_claim("I take `add` now", ("add", "report")) == "add"
    assert prompts.resolve_claim("nothing", ("add",)) is None


def test_read_edit_builds_requests_and_task_specs() -> None:
    edit, specs = read_edit(  # type: ignore[misc]
        {
            "action": "split_task",
            "task": "double",
            "parts": [{"id": "d1", "files": ["double.py"]}, {"id": "d2", "check": "true"}],
        },
        TINY,
    )
    assert edit == SplitTask("double", ("d1", "d2"))
    assert [s.dependencies for s in specs] == [("add",), ("add",)]
    assert specs[0].check is None and specs[1].check == "true"  # the parent's check stays behind
    assert specs[0].title == "part of double"
    added = read_edit({"action": "add_task", "id": "x", "after": ["add"]}, TINY)
    assert added == (AddTask("x", ("add",)), [added[1][0]])  # type: ignore[index]
    assert read_edit({"action": "add_dependency", "task": "greet", "on": "add"}, TINY) == (
        AddDependency("greet", "add"),
        [],
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("split it", "an edit must be a JSON object"),
        ({"task": "add"}, "unknown action 'None'"),
        ({"action": "rename"}, "unknown action 'rename'; one of: add_task, split_task"),
        ({"action": "add_dependency", "task": "add"}, "add_dependency: on: Field required"),
        ({"action": "add_task", "id": "a b"}, "add_task: id: String should match pattern"),
        ({"action": "add_task", "id": "x", "files": ["../x.py"]}, "add_task: file '../x.py'"),
        (
            {"action": "split_task", "task": "add", "parts": [{"id": "a1"}]},
            "parts: Tuple should have at least 2 items",
        ),
        ({"action": "add_task", "id": "x", "estimate_s": -1}, "estimate_s: Input should be"),
    ],
)
def test_malformed_edits_are_one_line(raw: Any, problem: str) -> None:
    found = read_edit(raw, TINY)
    assert isinstance(found, str) and problem in found
    assert "\n" not in found


def test_project_after_and_edited_graph_follow_the_policy_graph() -> None:
    from lmteams.scheduling.dynamic import DynamicPolicy

    policy = DynamicPolicy(TINY.graph(), ["n0"])
    edit, specs = read_edit(  # type: ignore[misc]
        {"action": "split_task", "task": "double", "parts": [{"id": "d1"}, {"id": "d2"}]}, TINY
    )
    policy.edit("n0", edit)
    policy.edit("n0", AddDependency("greet", "d2"))
    project = project_after(TINY, policy.graph, specs)
    assert [t.id for t in project.tasks] == ["add", "square", "greet", "sum-squares", "d1", "d2"]
    assert project.task("greet").dependencies == ("d2",)
    logged = {t: list(d) for t, d in policy.graph.deps.items()}  # a task_graph event's tasks
    assert edited_graph(logged, TINY.graph()).deps == policy.graph.deps
    assert edited_graph(None, TINY.graph()) == TINY.graph()
