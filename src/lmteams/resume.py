"""Resuming runs whose coordinator died: one registry of resumers by run kind.

A feature makes its runs resumable by registering, when its module is imported, a coroutine
that redoes its work on a team reopened for resuming: completed calls are then replayed from
the event log instead of being sent again (:class:`lmteams.state.replay.ReplayLog`), so the
resumed run pays only for what was never finished and ends with the result an uninterrupted
run would have had.

    async def resume_batch(ctx: ResumeContext) -> None:
        async with ctx.team() as team:
            team.result = await run_batch(team, ctx.run.params["items"])

    register_resumer("batch", resume_batch)

The kinds that ship with lmteams register in their own feature's module: ``ask`` and ``eval``
in :mod:`lmteams.strategies.resume`, ``run`` (project runs) in :mod:`lmteams.coordinator.resume`.
:func:`load_features` is the one list of those modules, imported when a resumer is first
looked up, so ``lmteams resume`` finds every kind whichever modules happen to be imported.
Runs of any other kind are refused with one line.

``lmteams resume RUN`` looks the run up, refuses one that is finished or whose coordinator is
still alive (:mod:`lmteams.state.liveness`), rebuilds its team from the ``run_started`` event
(or ``--team``), and calls the kind's resumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec, parse_team
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.state.events import RunStarted
from lmteams.state.liveness import STAMPED, coordinator_alive
from lmteams.state.store import EventStore, RunRecord
from lmteams.team import REDACTED, Team

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ResumeContext:
    """What a resumer gets: the run, its store and team, and how to reopen it."""

    run: RunRecord
    store: EventStore
    spec: TeamSpec
    runtime: Runtime | None = None
    backends: Mapping[str, ModelBackend] | None = None
    opened: Team | None = field(default=None)
    #: Told (done, total) as the resumed work advances: tasks of a project run, answers of an
    #: evaluation (a resumer of quick work, an ask, need not call it).
    progress: Progress | None = None

    def earlier_s(self) -> float:
        """Seconds the run worked before this resume, as its log shows: each earlier process's
        span on the run's clock (it starts again at 0 in each, and a ``run_resumed`` event opens
        the next), up to the last event it logged. Read it before the team reopens."""
        spans = [0.0]
        for event in self.store.events(self.run.run_id):
            if event.type == "run_resumed":
                spans.append(0.0)
            elif event.t > spans[-1]:
                spans[-1] = event.t
        return sum(spans)

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

_RESUMERS: dict[str, Resumer] = {}
_features_loaded = False


def register_resumer(kind: str, resumer: Resumer) -> None:
    """Make runs of ``kind`` resumable by ``resumer`` (call it when your feature's module is
    imported; a later registration of the same kind replaces the earlier one)."""
    _RESUMERS[kind] = resumer


def load_features() -> None:
    """Import every feature of lmteams whose runs can be resumed; each registers its resumer.

    The one list of them. Imported here, on first use, rather than at the top of this module:
    each of them imports this module to register, and a plain ``import lmteams.resume`` stays
    free of them. (A list of imports rather than entry points: mypy, ruff and the layer test
    check it, and it needs no reinstall when a kind is added. A kind from outside lmteams
    registers by importing this module and calling :func:`register_resumer`.)
    """
    global _features_loaded
    if _features_loaded:
        return
    import lmteams.coordinator.resume  # registers "run"
    import lmteams.strategies.resume  # noqa: F401  (registers "ask" and "eval")

    _features_loaded = True


def resumable_kinds() -> list[str]:
    load_features()
    return sorted(_RESUMERS)


def resumer_for(kind: str) -> Resumer:
    """The resumer of runs of ``kind``; :class:`~lmteams.errors.ConfigError` (one line) when
    no feature resumes that kind."""
    resumer = _RESUMERS.get(kind)
    if resumer is None:
        load_features()
        resumer = _RESUMERS.get(kind)
    if resumer is None:
        raise ConfigError(
            f"runs of kind {kind!r} cannot be resumed; resumable kinds: "
            f"{', '.join(resumable_kinds())}; start it again",
            field="RUN",
        )
    return resumer


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
    started = [e.event for e in store.events(run.run_id, types=["run_started"])]
    first = started[0] if started else None
    if not isinstance(first, RunStarted) or "team" not in first.model_fields_set:
        raise ConfigError(f"run {run.run_id} has no logged team; pass --team FILE", field="RUN")
    logged = first.team
    for name, options in logged.get("models", {}).items():
        if REDACTED in options.values():
            raise ConfigError(
                f"run {run.run_id}: model {name!r} has a secret that was not logged; "
                "pass the team file again with --team FILE",
                field="RUN",
            )
    return parse_team(logged, source=f"run {run.run_id}")


async def resume_run(
    store: EventStore,
    run_id: str,
    *,
    spec: TeamSpec | None = None,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ResumeOutcome:
    """Continue run ``run_id`` with its kind's resumer; return how it ended (``progress`` is
    told (done, total) as long work advances: see :attr:`ResumeContext.progress`).

    Raises :class:`~lmteams.errors.RunNotFound`, or :class:`~lmteams.errors.ConfigError` when
    the run is finished, still running (unless ``force``), or of a kind nobody can resume.
    """
    run = store.run(run_id)
    if run.status == "done":
        raise ConfigError(
            f"run {run.run_id} already finished (done); nothing to resume", field="RUN"
        )
    if run.status == "running" and not force:
        pid = coordinator_alive(store.events(run.run_id, types=list(STAMPED)))
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
        progress=progress,
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
