"""Generate and test for project tasks (``candidates: N``): each candidate checked in its own
scratch copy, the passing one that agrees with most others lands, none passing fails the
attempt as a failed check does (and it is retried)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.analysis.metrics import compute
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedCall
from lmteams.scheduling.project import ProjectSpec, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import scripted_team


def code(body: str, note: str = "") -> str:
    return f"add.py\n```python\n# {note}\ndef add(a, b):\n    return {body}\n```"


ASSERTS = '{python} -c "from add import add; assert add(2, 3) == 5"'
PRINTS = '{python} -c "from add import add; print(add(2, 3))"'


def project(check: str, *, candidates: int | None = 3, task_candidates: int | None = None):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {"project": "adder", "max_check_retries": 1}
    if candidates is not None:
        fields["candidates"] = candidates
    task: dict[str, object] = {"id": "add", "files": ["add.py"], "check": check}
    if task_candidates is not None:
        task["candidates"] = task_candidates
    return parse_project({**fields, "tasks": [task]}, source="t")


async def run(store: EventStore, spec: ProjectSpec, nodes: int, script):  # type: ignore[no-untyped-def]
    team, backends = scripted_team(nodes, script)
    result = await run_project(team, spec, store, RunSettings(workers=1), backends=backends)
    return result, store.events(result.run_id)


def of(events, kind: str) -> list:  # type: ignore[no-untyped-def]
    return [e.event for e in events if e.type == kind]


def landed(result) -> str:  # type: ignore[no-untyped-def]
    return (Path(result.workspace) / "add.py").read_text()


async def test_the_one_passing_candidate_of_three_lands(store: EventStore) -> None:
    replies = {"n0": code("a - b"), "n1": code("a * b"), "n2": code("a + b", "n2")}
    result, events = await run(store, project(ASSERTS), 3, lambda c: replies[c.node])
    assert result.tasks == {"add": "done"}
    checked = sorted((e.index, e.passed) for e in of(events, "candidate_checked"))
    assert checked == [(0, False), (1, False), (2, True)]
    chosen = of(events, "candidate_chosen")
    assert [(e.index, e.passed, e.agreeing) for e in chosen] == [(2, 1, 1)]
    assert "# n2" in landed(result)
    # the shared workspace received only the chosen candidate's file, once
    [written] = of(events, "file_written")
    assert "# n2" in (written.content or "")
    metrics = compute(result.run_id, events, None)
    assert metrics.calls == 3 and metrics.total_tokens > 0  # every candidate is in the cost


async def test_all_pass_but_disagree_and_the_majority_cluster_wins(store: EventStore) -> None:
    replies = {"n0": code("a + b + 1", "n0"), "n1": code("a + b", "n1"), "n2": code("b + a", "n2")}
    result, events = await run(store, project(PRINTS), 3, lambda c: replies[c.node])
    assert result.tasks == {"add": "done"}
    checked = of(events, "candidate_checked")
    assert all(e.passed for e in checked) and len(checked) == 3
    clusters = {e.index: e.cluster for e in checked}
    assert clusters[1] == clusters[2] != clusters[0]
    [chosen] = of(events, "candidate_chosen")
    assert (chosen.index, chosen.passed, chosen.agreeing) == (1, 3, 2)
    assert "# n1" in landed(result)


async def test_none_passes_so_the_attempt_fails_and_is_retried(store: EventStore) -> None:
    asked: list[str] = []

    def script(call: ScriptedCall) -> str:
        asked.append(call.prompt)
        return code("a - b")

    result, events = await run(store, project(ASSERTS), 3, script)
    assert result.tasks == {"add": "failed"}
    assert len(of(events, "task_attempt")) == 2  # max_check_retries 1: tried twice
    assert len(of(events, "candidate_checked")) == 6 and not of(events, "candidate_chosen")
    checks = of(events, "check_run")
    assert [c.ok for c in checks] == [False, False]
    assert "none of 3 candidates passed" in checks[0].summary
    assert not of(events, "file_written")  # nothing failing reached the shared workspace
    assert len(asked) == 6 and "AssertionError" in asked[-1]  # the retry got the feedback


async def test_one_eligible_node_gives_samples_with_distinct_seeds(store: EventStore) -> None:
    seeds: list[int | None] = []

    def script(call: ScriptedCall) -> str:
        seeds.append(call.sampling.seed)
        return code("a + b")

    result, events = await run(
        store, project(ASSERTS, candidates=None, task_candidates=3), 1, script
    )
    assert result.tasks == {"add": "done"}
    assert len(seeds) == 3 and len(set(seeds)) == 3
    assert {e.index for e in of(events, "candidate_checked")} == {0, 1, 2}


async def test_one_candidate_is_the_plain_attempt(store: EventStore) -> None:
    result, events = await run(store, project(ASSERTS, candidates=None), 3, lambda c: code("a + b"))
    assert result.tasks == {"add": "done"}
    assert not of(events, "candidate_checked") and not of(events, "candidate_chosen")
    assert compute(result.run_id, events, None).calls == 1


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        ({"candidates": 0}, "candidates", "greater than or equal to 1"),
        ({"candidates": 17}, "candidates", "less than or equal to 16"),
        ({"candidates": "some"}, "candidates", "valid integer"),
        ({"tasks": [{"id": "a", "candidates": 0}]}, "tasks[0].candidates", "greater than"),
    ],
)
def test_bad_candidates_are_refused(fields: dict[str, object], where: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_project({"tasks": [{"id": "a"}], **fields}, source="p.yaml")
    assert error.value.field == where and says in str(error.value)
    assert "p.yaml" in str(error.value)
