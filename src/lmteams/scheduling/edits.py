"""Graph edits as nodes write them (JSON) -> typed requests for the ``dynamic`` policy.

A node's edit is validated here for its form (the action, the fields, safe file names) and
turned into a :mod:`lmteams.scheduling.dynamic` request plus the task specs it creates; the
policy then decides whether the graph allows it. :func:`project_after` keeps the project's
task list (what prompts and checks read) in step with the policy's graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmteams.scheduling.dynamic import MAX_PARTS, AddDependency, AddTask, Edit, SplitTask
from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.project import ProjectSpec, TaskSpec

_ID = Field(min_length=1, max_length=128, pattern=r"^[\w.\-]+$")


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = _ID
    title: str = Field("", max_length=1000)
    description: str = Field("", max_length=20_000)
    files: tuple[str, ...] = Field((), max_length=20)
    check: str | None = Field(None, max_length=2000)


class _AddTask(_Part):
    action: Literal["add_task"]
    after: tuple[str, ...] = Field((), max_length=50)
    estimate_s: float | None = Field(None, gt=0)


class _SplitTask(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["split_task"]
    task: str = _ID
    parts: tuple[_Part, ...] = Field(min_length=2, max_length=MAX_PARTS)


class _AddDependency(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["add_dependency"]
    task: str = _ID
    on: str = _ID


_FORMS: dict[str, type[BaseModel]] = {
    "add_task": _AddTask,
    "split_task": _SplitTask,
    "add_dependency": _AddDependency,
}


def read_edit(raw: Any, project: ProjectSpec) -> tuple[Edit, list[TaskSpec]] | str:
    """(request, new task specs), or the problem with ``raw`` as one line."""
    if not isinstance(raw, dict):
        return "an edit must be a JSON object"
    action = raw.get("action")
    form = _FORMS.get(action) if isinstance(action, str) else None
    if form is None:
        return f"unknown action {str(action)[:40]!r}; one of: {', '.join(_FORMS)}"
    try:
        parsed = form.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or action
        return f"{action}: {where}: {error['msg']}"
    try:
        if isinstance(parsed, _AddTask):
            spec = _spec(parsed, parsed.after, None)
            return AddTask(parsed.id, parsed.after, parsed.estimate_s), [spec]
        if isinstance(parsed, _SplitTask):
            if parsed.task not in {t.id for t in project.tasks}:
                return SplitTask(parsed.task, tuple(p.id for p in parsed.parts)), []
            parent = project.task(parsed.task)
            specs = [_spec(p, parent.dependencies, parent) for p in parsed.parts]
            return SplitTask(parsed.task, tuple(p.id for p in parsed.parts)), specs
    except ValidationError as exc:  # a file name outside the workspace
        return f"{action}: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}"
    assert isinstance(parsed, _AddDependency)
    return AddDependency(parsed.task, parsed.on), []


def _spec(part: _Part, deps: tuple[str, ...], parent: TaskSpec | None) -> TaskSpec:
    # A part keeps its parent's role and skills (who may run it) but not its check: the
    # parent's check tests all its files, and one part writes only some of them.
    return TaskSpec(
        id=part.id,
        title=part.title or (f"part of {parent.id}" if parent else part.id),
        description=part.description or (parent.description if parent else ""),
        dependencies=deps,
        files=part.files,
        check=part.check,
        role=parent.role if parent else None,
        skills=parent.skills if parent else (),
    )


def project_after(project: ProjectSpec, graph: TaskGraph, new: list[TaskSpec]) -> ProjectSpec:
    """``project`` with the tasks of ``graph``, in its order and with its dependencies."""
    known = {t.id: t for t in (*project.tasks, *new)}
    tasks = tuple(known[t].model_copy(update={"dependencies": graph.deps[t]}) for t in graph.ids)
    return project.model_copy(update={"tasks": tasks})


def edited_graph(tasks: Mapping[str, Sequence[str]] | None, graph: TaskGraph) -> TaskGraph:
    """The graph a run ended with: ``graph``, or the tasks and dependencies of the last
    ``task_graph`` event of a dynamic run (logged after every accepted edit)."""
    if tasks is None:
        return graph
    durations = {t: d for t, d in graph.durations.items() if t in tasks}
    return TaskGraph.build([(t, tuple(deps)) for t, deps in tasks.items()], durations)
