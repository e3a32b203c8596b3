from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lmteams.analysis.metrics import compute
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError, ModelUnavailable
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import builtin_project, load_project, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY

TOPOLOGIES = ["preassign", "steal", "decentralized", "lead"]


async def run(
    project,
    topology: str,
    workers: int,
    store: EventStore,
    script=project_script,
    latency=1.0,
    **settings,
):  # type: ignore[no-untyped-def]
    spec, backends = scripted_team(workers + (topology == "lead"), script, latency_s=latency)
    with VirtualClock() as clock:
        result = await run_project(
            spec,
            project,
            store,
            RunSettings(topology=topology, workers=workers, **settings),
            backends=backends,
        )
        return result, clock.time(), backends["scripted"]


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("path", STUDY, ids=lambda p: p.stem)
async def test_every_topology_completes_every_study_graph(
    path: Path, topology: str, store: EventStore
) -> None:
    project = load_project(path)
    result, elapsed, _ = await run(project, topology, 3, store)
    assert result.status == "done", result.tasks
    assert set(result.tasks.values()) == {"done"}
    files = sorted(p.name for p in Path(result.workspace).iterdir())
    assert files == sorted(f for t in project.tasks for f in t.files)
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert metrics.tasks_done == 20
    if topology in ("preassign", "steal"):
        assert elapsed == pytest.approx(project.graph().lower_bound(3))


async def test_dependencies_finish_before_dependents_start(store: EventStore) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "dataanalysis_p05"))
    result, _, _ = await run(project, "decentralized", 4, store)
    done_at: dict[str, float] = {}
    for event in store.events(result.run_id):
        if event.type == "task_done":
            done_at[event.data["task"]] = event.t
        if event.type == "task_assigned":
            for dep in project.task(event.data["task"]).dependencies:
                assert dep in done_at and done_at[dep] <= event.t
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert metrics.claims_refused > 0  # the naive claimer contends for the same tasks


def failing_then_fixed(call: ScriptedCall) -> str:
    if "failed its check" in call.prompt:
        return "add.py\n```python\ndef add(a, b):\n    return a + b\n```"
    return "add.py\n```python\ndef add(a, b):\n    return a - b\n```"


async def test_failed_check_is_fed_back_and_retried_in_the_sandbox(store: EventStore) -> None:
    project = parse_project(
        {
            "tasks": [
                {
                    "id": "add",
                    "files": ["add.py"],
                    "check": 'python -c "from add import add; assert add(2, 3) == 5"',
                }
            ]
        },
        source="p",
    )
    spec, backends = scripted_team(1, failing_then_fixed)
    result = await run_project(spec, project, store, RunSettings(workers=1), backends=backends)
    assert result.status == "done"
    checks = store.events(result.run_id, types=["check_run"])
    assert [c.data["ok"] for c in checks] == [False, True]
    assert "AssertionError" in checks[0].data["summary"]
    assert (Path(result.workspace) / "add.py").read_text().strip().endswith("return a + b")


async def test_task_fails_after_its_retries_and_blocks_dependents(store: EventStore) -> None:
    project = parse_project(
        {
            "max_check_retries": 1,
            "tasks": [
                {"id": "a", "files": ["a.py"], "check": "false"},
                {"id": "b", "files": ["b.py"], "dependencies": ["a"]},
                {"id": "c", "files": ["c.py"]},
            ],
        },
        source="p",
    )
    spec, backends = scripted_team(2, project_script)
    result = await run_project(spec, project, store, RunSettings(workers=2), backends=backends)
    assert result.status == "partial"
    assert result.tasks == {"a": "failed", "b": "blocked", "c": "done"}
    assert len(store.events(result.run_id, types=["check_run"])) == 2


async def test_reply_without_code_is_retried_with_feedback(store: EventStore) -> None:
    replies = iter(["I cannot do that.", "a.py\n```python\nA = 1\n```"])
    spec, backends = scripted_team(1, lambda call: next(replies))
    project = parse_project({"tasks": [{"id": "a", "files": ["a.py"]}]}, source="p")
    result = await run_project(spec, project, store, RunSettings(workers=1), backends=backends)
    assert result.status == "done"
    assert store.events(result.run_id, types=["output_invalid"])


async def test_expired_lease_makes_a_slow_writer_conflict_not_overwrite(store: EventStore) -> None:
    """Both tasks write shared.py; the slow holder's lease lapses, the fast task writes, and
    the slow writer's stale compare-and-set is refused and reported, never silently lost."""
    project = parse_project(
        {
            "max_check_retries": 1,
            "tasks": [
                {"id": "slow", "files": ["shared.py"]},
                {"id": "fast", "files": ["shared.py"]},
            ],
        },
        source="p",
    )

    def script(call: ScriptedCall) -> str:
        return f"shared.py\n```python\nWHO = {call.node!r}\n```"

    spec, backends = scripted_team(
        2, script, latency_s=lambda call: 10.0 if call.node == "n0" and call.index == 0 else 1.0
    )
    with VirtualClock():
        result = await run_project(
            spec,
            project,
            store,
            RunSettings(topology="steal", workers=2, lease_ttl_s=2.0),
            backends=backends,
        )
    types = [e.type for e in store.events(result.run_id)]
    assert "lease_refused" in types
    conflicts = store.events(result.run_id, types=["write_conflict"])
    assert conflicts and conflicts[0].data["expected"] == 0 and conflicts[0].data["version"] == 1
    writes = store.events(result.run_id, types=["file_written"])
    assert [w.data["version"] for w in writes] == list(range(1, len(writes) + 1))
    assert result.status == "done"


async def test_crashing_nodes_work_is_rerouted(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        if call.node in ("n1", "n3"):
            return ModelUnavailable("node crashed")
        return project_script(call)

    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    result, _, _ = await run(project, "steal", 5, store, script=script)
    assert result.status == "done"
    lost = {e.node for e in store.events(result.run_id, types=["node_lost"])}
    assert lost == {"n1", "n3"}


async def test_lead_with_invalid_json_is_retried_then_falls_back(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "Assign ready tasks" in call.prompt:
            return "sure! task-1 to n1"
        return project_script(call)

    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p09"))
    result, _, _ = await run(project, "lead", 3, store, script=script)
    assert result.status == "done"
    assert store.events(result.run_id, types=["assignment_rejected"])
    assert store.events(result.run_id, types=["lead_fallback"])


async def test_plan_from_a_goal(store: EventStore) -> None:
    plans = iter(
        [
            json.dumps(
                {
                    "tasks": [
                        {
                            "id": "a",
                            "title": "A",
                            "description": "",
                            "dependencies": ["b"],
                            "files": ["a.py"],
                        },
                        {
                            "id": "b",
                            "title": "B",
                            "description": "",
                            "dependencies": ["a"],
                            "files": ["b.py"],
                        },
                    ]
                }
            ),
            json.dumps(
                {
                    "tasks": [
                        {
                            "id": "a",
                            "title": "A",
                            "description": "",
                            "dependencies": [],
                            "files": ["a.py"],
                        },
                        {
                            "id": "b",
                            "title": "B",
                            "description": "",
                            "dependencies": ["a"],
                            "files": ["b.py"],
                        },
                    ]
                }
            ),
        ]
    )

    def script(call: ScriptedCall) -> str:
        if call.prompt.startswith("Goal:"):
            return next(plans)
        return project_script(call)

    spec, backends = scripted_team(2, script)
    result = await run_project(
        spec, None, store, RunSettings(workers=2), backends=backends, goal="two modules"
    )
    assert result.status == "done"
    rejected = store.events(result.run_id, types=["plan_rejected"])
    assert "dependency cycle" in rejected[0].data["problem"]
    assert store.events(result.run_id, types=["plan_accepted"])


async def test_unroutable_task_is_an_error_before_the_run(store: EventStore) -> None:
    project = parse_project({"tasks": [{"id": "a", "role": "designer"}]}, source="p")
    spec, backends = scripted_team(2, project_script, roles=["coder"])
    with pytest.raises(
        ConfigError, match="task 'a' needs role 'designer', which no node has"
    ) as info:
        await run_project(spec, project, store, RunSettings(workers=2), backends=backends)
    assert info.value.field == "tasks.a"


async def test_too_many_workers_is_a_clear_error(store: EventStore) -> None:
    spec, backends = scripted_team(2, project_script)
    project = load_project(builtin_project("tiny-math"))
    with pytest.raises(ConfigError, match="--workers 5 but the team has only 2"):
        await run_project(spec, project, store, RunSettings(workers=5), backends=backends)


def test_settings_validate() -> None:
    with pytest.raises(ConfigError, match="--balance: String should match pattern"):
        RunSettings(balance="random")
    with pytest.raises(ConfigError, match="--workers: Input should be greater than"):
        RunSettings(workers=0)


async def test_live_view_snapshots(store: EventStore) -> None:
    snapshots = []
    project = load_project(builtin_project("tiny-math"))
    spec, backends = scripted_team(2, project_script)
    unchecked = project.model_copy(
        update={"tasks": tuple(t.model_copy(update={"check": None}) for t in project.tasks)}
    )
    await run_project(
        spec,
        unchecked,
        store,
        RunSettings(workers=2),
        backends=backends,
        on_update=snapshots.append,
    )
    assert snapshots and snapshots[-1].counts.get("done") == 5
    assert asyncio.iscoroutinefunction(run_project)


async def test_live_view_shows_roles_health_and_breakers(store: EventStore) -> None:
    from lmteams.config import parse_team

    spec = parse_team(
        {
            "models": {"m": {"backend": "scripted", "script": "lmteams.testing:project_script"}},
            "defaults": {"model": "m", "max_concurrent": 1},
            "nodes": [
                {"name": "a", "role": "coder"},
                {"name": "b", "role": "coder"},
                {"name": "c", "role": "writer"},
            ],
            "resilience": {},
        },
        source="t",
    )
    project = parse_project(
        {"tasks": [{"id": "x", "role": "coder"}, {"id": "y", "role": "writer"}, {"id": "z"}]},
        source="p",
    )
    snapshots = []
    await run_project(spec, project, store, RunSettings(workers=3), on_update=snapshots.append)
    first = snapshots[0]
    assert set(first.roles) == {"coder", "writer"}
    assert first.roles["coder"][1] == 2 and first.roles["writer"][1] == 1
    assert set(first.health) == {"a", "b", "c"} and set(first.health.values()) == {"healthy"}
    assert first.breakers  # one breaker per model endpoint


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ..scheduling.test_graph import dags  # noqa: E402


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dags(max_size=15), st.integers(1, 4), st.sampled_from(TOPOLOGIES), st.integers(0, 10_000))
def test_real_runs_never_start_a_task_before_its_prerequisites(
    tasks, workers, topology, seed
) -> None:  # type: ignore[no-untyped-def]
    """The real coordinator, random graphs, random per-call latencies (virtual time)."""
    import random as random_module

    project = parse_project(
        {"tasks": [{"id": t, "dependencies": deps, "files": [f"{t}.py"]} for t, deps in tasks]},
        source="random",
    )

    def latency(call: ScriptedCall) -> float:
        return random_module.Random(f"{seed}/{call.node}/{call.index}").lognormvariate(0, 0.5)

    async def go() -> None:
        store = EventStore(":memory:")
        spec, backends = scripted_team(
            workers + (topology == "lead"), project_script, latency_s=latency
        )
        with VirtualClock():
            result = await run_project(
                spec,
                project,
                store,
                RunSettings(topology=topology, workers=workers, seed=seed),
                backends=backends,
            )
        assert result.status == "done"
        done_at: dict[str, float] = {}
        for event in store.events(result.run_id):
            if event.type == "task_done":
                done_at[event.data["task"]] = event.t
            elif event.type == "task_assigned":
                for dep in project.task(event.data["task"]).dependencies:
                    assert dep in done_at and done_at[dep] <= event.t
        assert set(done_at) == {t for t, _ in tasks}

    asyncio.run(go())
