"""Helpers for testing code built on lmteams: scripted teams, a virtual clock, event capture.

spec, backends = scripted_team(5, lambda call: "Answer: 42")
async with Team(spec, EventStore(":memory:"), kind="test", backends=backends) as team:
    ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from lmteams.config import Defaults, ModelSpec, NodeSpec, TeamSpec
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
from lmteams.runtime.clock import VirtualClock
from lmteams.state.store import EventRecord, EventStore

__all__ = [
    "ScriptedCall",
    "ScriptedReply",
    "VirtualClock",
    "event_types",
    "project_script",
    "scripted_team",
]

ScriptFn = Callable[[ScriptedCall], "str | ScriptedReply | BaseException"]


def scripted_team(
    n: int,
    script: ScriptFn | None = None,
    *,
    roles: Sequence[str] | None = None,
    max_concurrent: int = 4,
    latency_s: float | Callable[[ScriptedCall], float] | None = None,
    name: str = "scripted",
    **node_fields: Any,
) -> tuple[TeamSpec, dict[str, ModelBackend]]:
    """A team of ``n`` nodes sharing one scripted model, and the backend override to pass.

    Nodes are named ``n0``..``n{n-1}``; ``roles`` cycles over the nodes when given.
    """
    backend = ScriptedBackend(script, name="scripted", latency_s=latency_s)
    nodes = tuple(
        NodeSpec(
            name=f"n{i}",
            role=roles[i % len(roles)] if roles else "generalist",
            model="scripted",
            max_concurrent=max_concurrent,
            **node_fields,
        )
        for i in range(n)
    )
    spec = TeamSpec(
        name=name,
        models={"scripted": ModelSpec(backend="scripted")},
        defaults=Defaults(model="scripted"),
        nodes=nodes,
    )
    return spec, {"scripted": backend}


def event_types(store: EventStore, run_id: str) -> list[str]:
    """The types of a run's events, in order."""
    return [e.type for e in store.events(run_id)]


def messages(store: EventStore, run_id: str) -> list[EventRecord]:
    """A run's message events, in order."""
    return store.events(run_id, types=["message"])


_WRITE = re.compile(r"^Write: (.+)$", re.M)
_PENDING = re.compile(r"^- (\S+) \[pending\]", re.M)
_READY = re.compile(r"^Ready tasks: (.*)$", re.M)
_IDLE = re.compile(r"^Idle workers: (.*)$", re.M)
_DONE = re.compile(r"^Done: (.*)$", re.M)
_NEEDS = re.compile(r"^- (\S+) \[pending\] .*\(needs: (.*)\)$", re.M)


def project_script(call: ScriptedCall) -> str:
    """A scripted worker for task-graph runs: writes a trivial module for every file asked
    for, claims the first pending task on the board (under ``--harness rounds``, the first
    ready one, as a JSON action), and as lead pairs ready tasks with idle workers in order.
    Use with :func:`scripted_team` for runs of any project."""
    prompt = call.prompt
    lead = _READY.search(prompt)
    if lead and "Assign ready tasks" in prompt:
        ready = [t for t in lead.group(1).split(", ") if t]
        idle_match = _IDLE.search(prompt)
        idle = idle_match.group(1).split(", ") if idle_match else []
        pairs = [{"task": t, "node": n} for t, n in zip(ready, idle, strict=False)]
        return json.dumps({"assignments": pairs})
    if "Pick ONE open task" in prompt:
        pending = _PENDING.findall(prompt)
        return pending[0] if pending else "none"
    if "Act with one JSON block" in prompt and not _WRITE.search(prompt):
        # the rounds harness (--harness rounds), holding no task: claim the first ready one
        done = _DONE.search(prompt)
        finished = set(done.group(1).split(", ")) if done else set()
        ready = [
            task
            for task, needs in _NEEDS.findall(prompt)
            if needs == "none" or set(needs.split(", ")) <= finished
        ]
        claiming = ready and "Claim an open task" in prompt
        action = {"action": "claim", "task": ready[0]} if claiming else {"action": "wait"}
        return "```json\n" + json.dumps({"actions": [action]}) + "\n```"
    wanted = _WRITE.search(prompt)
    files = [f.strip() for f in wanted.group(1).split(",")] if wanted else []
    blocks = [
        f"{name}\n```python\nVALUE = {len(name)}\n```" for name in files if name.endswith(".py")
    ]
    return "\n\n".join(blocks) or "done"
