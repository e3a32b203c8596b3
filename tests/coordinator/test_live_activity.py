"""The live view's node activity is the coordinator's latest, even when snapshots are throttled."""

from __future__ import annotations

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings, Snapshot
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team


async def test_a_node_that_starts_its_next_task_is_not_shown_idle(store: EventStore) -> None:
    # one worker, a chain: the node finishes "first" and starts "second" in the same instant,
    # within the live view's snapshot interval; the view must not keep showing it idle
    project = parse_project(
        {"tasks": [{"id": "first"}, {"id": "second", "dependencies": ["first"]}]}, source="p"
    )
    spec, backends = scripted_team(1, project_script, latency_s=5.0)
    seen: list[tuple[float, Snapshot]] = []
    with VirtualClock() as clock:

        def record(snapshot: Snapshot) -> None:
            seen.append((clock.time(), snapshot))

        result = await run_project(
            spec, project, store, RunSettings(workers=1), backends=backends, on_update=record
        )
    assert result.status == "done"
    node = spec.nodes[0].name
    second_started = next(t for t, s in seen if s.counts.get("done") == 1)
    during_second = [s for t, s in seen if second_started <= t < second_started + 5.0]
    assert during_second[-1].nodes[node] == "working on second", [(t, s.nodes) for t, s in seen]
