"""Resuming runs whose coordinator died: a registry of resumers by run kind.

A run kind makes itself resumable by registering a coroutine that redoes its work on a team
opened with ``resume=True``: completed calls are then replayed from the event log instead of
being sent again (keyed calls from ``call_results``; with ``replay_unkeyed`` also unkeyed ones,
from the logged messages), so the resumed run pays only for what was never finished and ends
with the result an uninterrupted run would have had.

    async def resume_graph(ctx: ResumeContext) -> None:
        project = load_project(ctx.run.params["project"])
        async with ctx.team() as team:
            team.result = await run_graph(team, project, ...)

    register_resumer("run", resume_graph)                    # or lazily, by reference:
    register_resumer("run", "lmteams.coordinator.resume:resume_graph")

``lmteams resume RUN`` looks the run up, refuses one that is finished or whose coordinator is
still alive, rebuilds its team from the ``run_started`` event (or ``--team``), and calls the
kind's resumer.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec, parse_team
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.state.store import EventStore, RunRecord
from lmteams.team import REDACTED, Team


@dataclass(slots=True)
class ResumeContext:
    """What a resumer gets: the run, its store and team, and how to reopen it."""

    run: RunRecord
    store: EventStore
    spec: TeamSpec
    runtime: Runtime | None = None
    backends: Mapping[str, ModelBackend] | None = None
    opened: Team | None = field(default=None)

    def team(self, *, replay_unkeyed: bool = False) -> Team:
        """The run's team, reopened for resuming (use as ``async with ctx.team() as team``)."""
        self.opened = Team(
            self.spec,
            self.store,
            kind=self.run.kind,
            params=self.run.params,
            runtime=self.runtime,
            backends=self.backends,
            run_id=self.run.run_id,
            resume=True,
            replay_unkeyed=replay_unkeyed,
        )
        return self.opened


Resumer = Callable[[ResumeContext], Awaitable[None]]

# Kinds resumable out of the box, by "module:function" so their modules load only when used.
_RESUMERS: dict[str, Resumer | str] = {
    "ask": "lmteams.resume:resume_ask",
    "run": "lmteams.coordinator.resume:resume_graph",
}


def register_resumer(kind: str, resumer: Resumer | str) -> None:
    """Make runs of ``kind`` resumable by ``resumer`` (a coroutine function, or its
    ``"module:function"`` reference, imported when first needed)."""
    _RESUMERS[kind] = resumer


def resumable_kinds() -> list[str]:
    return sorted(_RESUMERS)


def resumer_for(kind: str) -> Resumer:
    entry = _RESUMERS.get(kind)
    if entry is None:
        raise ConfigError(
            f"runs of kind {kind!r} cannot be resumed; resumable kinds: "
            f"{', '.join(resumable_kinds())}",
            field="RUN",
        )
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        resolved: Resumer = getattr(importlib.import_module(module), name)
        _RESUMERS[kind] = resolved
        return resolved
    return entry


class ResumeOutcome(BaseModel):
    """What ``lmteams resume`` reports (also its ``--json`` output)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    kind: str
    status: str
    replayed: int
    new_calls: int
    result: dict[str, Any] | None


def team_of(store: EventStore, run: RunRecord) -> TeamSpec:
    """The team a run started with, as logged in its ``run_started`` event."""
    started = store.events(run.run_id, types=["run_started"])
    if not started or "team" not in started[0].data:
        raise ConfigError(f"run {run.run_id} has no logged team; pass --team FILE", field="RUN")
    logged = started[0].data["team"]
    for name, options in logged.get("models", {}).items():
        if REDACTED in options.values():
            raise ConfigError(
                f"run {run.run_id}: model {name!r} has a secret that was not logged; "
                "pass the team file again with --team FILE",
                field="RUN",
            )
    return parse_team(logged, source=f"run {run.run_id}")


def coordinator_alive(store: EventStore, run: RunRecord) -> int | None:
    """The pid of the process still running ``run`` on this host, if there is one."""
    events = store.events(run.run_id, types=["run_started", "run_resumed"])
    if not events:
        return None
    last = events[-1].data
    pid, host = last.get("pid"), last.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by someone else
    return pid if _not_zombie(pid) else None


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


async def resume_run(
    store: EventStore,
    run_id: str,
    *,
    spec: TeamSpec | None = None,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    force: bool = False,
) -> ResumeOutcome:
    """Continue run ``run_id`` with its kind's resumer; return how it ended.

    Raises :class:`~lmteams.errors.RunNotFound`, or :class:`~lmteams.errors.ConfigError` when
    the run is finished, still running (unless ``force``), or of a kind nobody can resume.
    """
    run = store.run(run_id)
    if run.status == "done":
        raise ConfigError(
            f"run {run.run_id} already finished (done); nothing to resume", field="RUN"
        )
    if run.status == "running" and not force:
        pid = coordinator_alive(store, run)
        if pid is not None:
            raise ConfigError(
                f"run {run.run_id} is still running (process {pid}); stop it first or pass --force",
                field="RUN",
            )
    resumer = resumer_for(run.kind)
    context = ResumeContext(
        run=run,
        store=store,
        spec=spec if spec is not None else team_of(store, run),
        runtime=runtime,
        backends=backends,
    )
    await resumer(context)
    finished = store.run(run.run_id)
    team = context.opened
    return ResumeOutcome(
        run_id=finished.run_id,
        kind=finished.kind,
        status=finished.status,
        replayed=team.replayed if team is not None else 0,
        new_calls=team.totals.calls if team is not None else 0,
        result=finished.result,
    )


async def resume_ask(context: ResumeContext) -> None:
    """Resume an ``ask`` run: ask again; answers already logged are replayed, not re-asked.

    The question, strategy, consensus settings and answer extractor come from the run's
    parameters (runs logged before the settings were recorded use the team file's).
    """
    from lmteams.consensus.settings import ConsensusSpec
    from lmteams.strategies.ask import ask_team

    params = context.run.params
    question = params.get("question")
    if not isinstance(question, str):
        raise ConfigError(f"run {context.run.run_id} has no question to resume", field="RUN")
    options = params.get("options")
    decided = len(context.store.events(context.run.run_id, types=["decision"]))
    async with context.team(replay_unkeyed=True) as team:
        # Killed after its decision was committed: the redo replays it without logging it twice.
        team.already_logged["decision"] = decided
        result = await ask_team(
            team,
            question,
            consensus=params.get("consensus"),
            options=ConsensusSpec.model_validate(options) if options is not None else None,
            extractor=params.get("extractor", "auto"),
        )
        team.result = result.model_dump(mode="json")
