"""What the shape of a project predicts before it runs: Amdahl's law and the bound on its DAG.

N tasks, C on the longest dependency chain (and its expected time when tasks carry
``estimate_s``), p = (N - C) / N, the Amdahl speedup S(n) = 1/((1-p) + p/n), the DAG lower bound
max(C, ceil(N/n)) for unit tasks, and a recommended team size (the smallest n past which one more
node adds under 10%). Imports of other tasks' modules that the graph does not order (in the
descriptions, and in the code a run wrote) are listed with the C and p they imply. What
`lmteams analyze` prints.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from lmteams.scheduling.imports import effective_graph, undeclared_imports
from lmteams.scheduling.project import ProjectSpec
from lmteams.state.events import FileWritten
from lmteams.state.store import EventStore


class SizeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    amdahl: float
    lower_bound: int  # tasks
    dag_speedup: float
    lower_bound_time: float | None  # seconds, when tasks carry estimates


class UndeclaredImport(BaseModel):
    model_config = ConfigDict(frozen=True)

    task: str
    imports: str
    from_task: str


class ProjectShape(BaseModel):
    model_config = ConfigDict(frozen=True)

    project: str
    n_tasks: int
    critical_path: int
    critical_path_tasks: list[str]
    critical_path_time: float | None
    total_time: float | None
    p: float
    recommended_workers: int
    by_workers: list[SizeRow]
    undeclared_imports: list[UndeclaredImport]
    effective_critical_path: int | None  # None: the undeclared imports close a cycle
    effective_p: float | None

    @property
    def has_estimates(self) -> bool:
        return self.total_time is not None


def project_shape(
    spec: ProjectSpec, *, max_workers: int = 8, code: Mapping[str, str] | None = None
) -> ProjectShape:
    """The shape of ``spec`` for teams of 1..``max_workers``; ``code`` (path -> source) adds
    the imports of written files to those of the descriptions."""
    graph = spec.graph()
    timed = spec.has_estimates
    edges = undeclared_imports(spec, dict(code) if code is not None else None)
    effective = effective_graph(spec, edges) if edges else graph
    rows = [
        SizeRow(
            n=n,
            amdahl=round(graph.amdahl(n), 4),
            lower_bound=graph.lower_bound(n),
            dag_speedup=round(graph.n / graph.lower_bound(n), 4),
            lower_bound_time=round(graph.lower_bound_time(n), 4) if timed else None,
        )
        for n in range(1, max_workers + 1)
    ]
    return ProjectShape(
        project=spec.project,
        n_tasks=graph.n,
        critical_path=graph.c,
        critical_path_tasks=list(graph.critical_path),
        critical_path_time=graph.critical_time if timed else None,
        total_time=graph.total_time if timed else None,
        p=round(graph.p, 4),
        recommended_workers=graph.recommended_workers(),
        by_workers=rows,
        undeclared_imports=[
            UndeclaredImport(task=e.task, imports=e.module, from_task=e.provider) for e in edges
        ],
        effective_critical_path=effective.c if effective is not None else None,
        effective_p=round(effective.p, 4) if effective is not None else None,
    )


def written_code(store: EventStore, run_id: str) -> dict[str, str]:
    """The last version of every file a run wrote, by path."""
    record = store.run(run_id)
    code: dict[str, str] = {}
    for row in store.events(record.run_id, types=["file_written"]):
        if isinstance(written := row.event, FileWritten):
            code[written.path] = written.content
    return code


__all__ = ["ProjectShape", "SizeRow", "UndeclaredImport", "project_shape", "written_code"]
