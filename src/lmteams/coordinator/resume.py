"""Resuming a project run whose coordinator died: rebuild it from the log, finish the work.

Registers the ``run`` kind with :mod:`lmteams.resume` when imported. The coordinator's own
state is rebuilt by replaying its logged schedule (``ProjectRun._rebuild``); a run in rounds
(``--harness rounds``) plays its rounds again over the log (:mod:`lmteams.coordinator.rounds`).
"""

from __future__ import annotations

from collections.abc import Mapping

from lmteams.coordinator.dynamic import run_class
from lmteams.coordinator.rounds import RoundsRun
from lmteams.coordinator.run import make_workdir, workdir_for
from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot
from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend
from lmteams.resume import Progress, ResumeContext, register_resumer, resume_run
from lmteams.runtime.base import Runtime
from lmteams.state.projects import executed_project
from lmteams.state.store import EventStore


async def resume_graph(context: ResumeContext) -> None:
    """Resumer of ``run`` runs: rebuild the coordinator from the log and finish the project.
    Completed calls are replayed, never sent again."""
    record = context.run
    events = context.store.events(record.run_id)
    project = executed_project(context.store, record)
    if project is None:
        raise ConfigError(
            f"run {record.run_id} stopped before its plan was made; start it again", field="RUN"
        )
    settings = RunSettings.model_validate(record.params["settings"])
    async with context.team() as team:
        workdir = workdir_for(context.store, team.run_id, settings)
        make_workdir(workdir)
        total = project.graph().n
        progress = context.progress
        on_update = None
        if progress is not None:

            def on_update(snapshot: Snapshot) -> None:
                counts = snapshot.counts
                progress(counts.get("done", 0) + counts.get("failed", 0), total)

        shell = RoundsRun if settings.harness == "rounds" else run_class(settings)
        run = shell(team, project, settings, workdir=workdir, on_update=on_update)
        result = await run.run(resume_events=events)
        team.status = result.status
        team.result = result.model_dump(mode="json")


async def resume_project(
    store: EventStore,
    run_id: str,
    *,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Continue a project run whose coordinator died (see :func:`resume_graph`); ``progress``
    is told (tasks finished, tasks) as it goes."""
    record = store.run(run_id)
    if record.kind != "run":
        raise ConfigError(
            f"run {record.run_id} is a {record.kind!r} run, not a project run", field="RUN"
        )
    await resume_run(
        store, record.run_id, runtime=runtime, backends=backends, force=force, progress=progress
    )
    finished = store.run(record.run_id)
    return RunResult.model_validate(finished.result)


register_resumer("run", resume_graph)
