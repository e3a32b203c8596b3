"""Helpers for testing code built on lmteams: scripted teams, a virtual clock, event capture.

spec, backends = scripted_team(5, lambda call: "Answer: 42")
async with Team(spec, EventStore(":memory:"), kind="test", backends=backends) as team:
    ...
"""

from __future__ import annotations

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
