"""`roles.<role>.description` is what the planner is told a role does."""

from __future__ import annotations

import json

from lmteams.config import TeamSpec
from lmteams.coordinator.planner import plan_project
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.state.store import EventStore
from lmteams.team import Team

PLAN = {
    "tasks": [
        {"id": "a", "title": "A", "description": "", "dependencies": [], "files": ["a.py"]},
    ]
}


async def test_the_planner_is_told_what_each_role_does(store: EventStore) -> None:
    prompts: list[str] = []

    def script(call: ScriptedCall) -> str:
        prompts.append(call.prompt)
        return json.dumps({"tasks": [{**PLAN["tasks"][0], "role": "coder"}]})

    spec = TeamSpec.model_validate(
        {
            "models": {"m": {"backend": "scripted"}},
            "nodes": [
                {"name": "boss", "role": "planner"},
                {"name": "c1", "role": "coder"},
                {"name": "r1", "role": "reviewer"},
            ],
            "roles": {"coder": {"description": "Writes short Python modules."}},
        }
    )
    backends: dict[str, ModelBackend] = {"m": ScriptedBackend(script)}
    async with Team(spec, store, kind="test", backends=backends) as team:
        project = await plan_project(team, "a calculator")
    assert [t.role for t in project.tasks] == ["coder"]
    [prompt] = prompts
    assert "one of: coder (Writes short Python modules.), reviewer." in prompt
