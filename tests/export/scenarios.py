"""Scripted runs for the export tests: a team run with a retry and a hedge, a project run
with a failed call moved to another node, and an ask decided by majority."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ModelUnavailable
from lmteams.faults.config import ResilienceSpec
from lmteams.models.scripted import ScriptedCall
from lmteams.scheduling.project import parse_project
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.team import Team
from lmteams.testing import VirtualClock, project_script, scripted_team

PROJECT = parse_project(
    yaml.safe_load(
        """
project: tiny
tasks:
  - {id: a, title: write a, files: [a.py]}
  - {id: b, title: write b, files: [b.py], dependencies: [a]}
"""
    ),
    source="tiny.yaml",
)


async def hedge_and_retry_run(store: EventStore) -> str:
    """Warm-up rounds on four nodes, then n3 straggles (hedged to another node) and n1's
    first try fails (retried): the run id."""
    state = {"slow": False, "fail": False}

    def latency(call: ScriptedCall) -> float:
        return 10.0 if state["slow"] and call.node == "n3" else 1.0

    def script(call: ScriptedCall) -> str | BaseException:
        if state["fail"] and call.node == "n1":
            state["fail"] = False
            return ModelUnavailable("503 busy")
        return f"Answer from {call.node}"

    spec, backends = scripted_team(4, script, latency_s=latency)
    resilience: dict[str, Any] = {
        "hedging": {"enabled": True, "min_samples": 4},
        "retries": {"max_attempts": 3, "base_s": 1},
        "reroute": {"enabled": False},
    }
    spec = spec.model_copy(update={"resilience": ResilienceSpec.model_validate(resilience)})
    with VirtualClock():
        async with Team(spec, store, kind="test", backends=backends) as team:
            for round_ in range(3):
                async with asyncio.TaskGroup() as group:
                    for name in spec.node_names:
                        group.create_task(team.call(name, f"warm-up {round_}"))
            state["slow"] = True
            await team.call("n3", "question")
            state["slow"], state["fail"] = False, True
            await team.call("n1", "again")
    return team.run_id


async def project_run(store: EventStore) -> str:
    """Tasks a then b on two workers; b's first call fails and moves to the other node."""
    count = {"n": 0}

    def script(call: ScriptedCall) -> str | BaseException:
        count["n"] += 1
        if count["n"] == 2:
            return ModelUnavailable("503 flaky")
        return project_script(call)

    spec, backends = scripted_team(2, script, latency_s=1.0)
    resilience = ResilienceSpec.model_validate({"retries": {"max_attempts": 3, "base_s": 1}})
    spec = spec.model_copy(update={"resilience": resilience})
    with VirtualClock():
        result = await run_project(spec, PROJECT, store, RunSettings(workers=2), backends=backends)
    assert result.status == "done"
    return result.run_id


async def ask_run(store: EventStore) -> str:
    spec, backends = scripted_team(3, lambda call: "Answer: 4", latency_s=0.5)
    with VirtualClock():
        result = await ask(spec, "What is 2 + 2?", store, backends=backends)
    return result.run_id
