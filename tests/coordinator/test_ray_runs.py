"""Task-graph runs under the Ray runtime: the same results as the local runtime, and a node
actor killed mid-run is survived with every task completed once. Starts Ray: runs only in a
loopback-only namespace (CI runs the suite in one)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.scheduling.project import load_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team
from tests.runtime.conftest import ray_cluster, ray_runtime  # noqa: F401

from ..scheduling.test_graph import STUDY

pytestmark = pytest.mark.ray


def outcome(store: EventStore, run_id: str, workspace: str) -> dict[str, object]:
    events = store.events(run_id)
    return {
        "assigned": sorted((e.data["task"], e.node) for e in events if e.type == "task_assigned"),
        "done": sorted(e.data["task"] for e in events if e.type == "task_done"),
        "messages": Counter(e.data["kind"] for e in events if e.type == "message"),
        "files": {p.name: p.read_text() for p in sorted(Path(workspace).iterdir())},
    }


async def test_same_project_same_results_under_local_and_ray(
    store: EventStore, ray_runtime
) -> None:  # type: ignore[no-untyped-def]
    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))
    settings = RunSettings(topology="preassign", workers=3)
    spec, backends = scripted_team(3, project_script, latency_s=0.02)
    local = await run_project(spec, project, store, settings, backends=backends)
    remote = await run_project(
        spec, project, store, settings, backends=backends, runtime=ray_runtime()
    )
    assert local.status == remote.status == "done"
    assert local.tasks == remote.tasks
    assert outcome(store, local.run_id, local.workspace) == outcome(
        store, remote.run_id, remote.workspace
    )


async def test_killing_a_node_actor_mid_run_completes_every_task_once(
    store: EventStore, ray_runtime
) -> None:  # type: ignore[no-untyped-def]
    import ray

    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    spec, backends = scripted_team(4, project_script, latency_s=0.4)
    runtime = ray_runtime(actors_per_machine=2)
    run = asyncio.ensure_future(
        run_project(
            spec,
            project,
            store,
            RunSettings(topology="steal", workers=4),
            backends=backends,
            runtime=runtime,
        )
    )
    for _ in range(600):
        await asyncio.sleep(0.05)
        runs = store.runs()
        if runs and len(store.events(runs[0].run_id, types=["task_done"])) >= 4:
            break
    ray.kill(runtime.actor_of("n0"), no_restart=False)
    result = await run
    assert result.status == "done"
    done = Counter(e.data["task"] for e in store.events(result.run_id, types=["task_done"]))
    assert len(done) == 20 and set(done.values()) == {1}
    kinds = Counter(e.data["kind"] for e in store.events(result.run_id, types=["message"]))
    assert kinds["request"] == kinds["reply"] == 20  # resent work is logged once
    assert runtime.resent >= 1
    lost, restarted = (
        store.events(result.run_id, types=[kind]) for kind in ("actor_lost", "actor_restarted")
    )
    assert len(lost) == len(restarted) == 1 and "n0" in lost[0].data["nodes"]
    assert restarted[0].data["resent"] == runtime.resent
