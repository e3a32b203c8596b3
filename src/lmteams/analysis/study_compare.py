"""Project runs from the event log set beside the study's medians (`lmteams study compare`).

A run is matched to a study condition by its project: the study's nine task files (the
``tasks`` folder beside the data folder) are compared with the project a run logged (name,
task ids and files, then dependencies; the nearest labelled p when dependencies were edited).
Its topology gives the study's mode (decentralized; preassign = the study's pre-assigned
mode); other topologies have no study counterpart.

Speedup is computed the study's way: the mean makespan of the successful n = 1 runs of the
same project and topology found in the store, divided by a run's makespan; medians are over
successful runs (status ``done``), and each row says how many runs it kept. The study's cell
is the median over its three models of the same suite, p and n (its own baselines: same
mode, model, suite and p).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.analysis.metrics import compute
from lmteams.errors import ConfigError
from lmteams.scheduling.graph import amdahl
from lmteams.scheduling.project import ProjectSpec, load_project
from lmteams.sim.study_logs import RUN_COLUMNS, _read
from lmteams.state.store import EventStore, RunRecord

MODES = {"decentralized": "decentralized", "preassign": "preassign_nolead"}
STUDY_COLUMNS = (*RUN_COLUMNS, "claims_blocked")
P_LABELS = {"p02": 0.2, "p05": 0.5, "p09": 0.9}


class RunRow(BaseModel):
    """One run of ours, as compared."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    condition: str | None  # the study's project (suite_pXX) it matches, None: no match
    project: str
    topology: str
    harness: str
    workers: int
    status: str
    makespan_s: float
    tokens: int
    claims_refused: int
    suite_ok: bool | None
    suite_passed: int | None
    suite_failed: int | None
    speedup: float | None  # against the store's n = 1 runs of the same project and topology


class CompareRow(BaseModel):
    """A condition (study project, topology, n): our runs' medians beside the study's."""

    model_config = ConfigDict(frozen=True)

    condition: str
    topology: str
    workers: int
    runs: int
    kept: int  # successful runs: the medians are over these
    speedup: float | None
    tokens: float | None
    claims_refused: float | None
    suite_passed: int  # runs whose final suite passed (of those that ran one)
    suite_runs: int
    study_speedup: float | None
    study_tokens: float | None
    study_claims_blocked: float | None
    study_success: float | None  # the share of the study's runs it counted as successful
    study_runs: int


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: list[CompareRow]
    runs: list[RunRow]
    excluded: int  # runs not counted in medians (not done)
    data: str


# -- the study's side -------------------------------------------------------------------------


def study_cells(data_dir: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(mode, suite_pXX, n) -> the study's medians over successful runs of that cell."""
    runs_path = data_dir / "runs.parquet"
    if not data_dir.is_dir():
        raise ConfigError("no such folder (the study's data: runs.parquet)", source=str(data_dir))
    if not runs_path.is_file():
        raise ConfigError("no runs.parquet in the study's data folder", source=str(data_dir))
    columns = _read(runs_path, STUDY_COLUMNS)
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    base: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r["success"] and r["n_teammates"] == 1:
            base[(r["mode"], r["model_dir"], r["task_type"], r["p_label"])].append(
                r["wall_clock_seconds"]
            )
    cells: dict[tuple[str, str, int], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        cell = cells[(r["mode"], f"{r['task_type']}_{r['p_label']}", int(r["n_teammates"]))]
        cell["success"].append(1.0 if r["success"] else 0.0)
        if not r["success"]:
            continue
        key = (r["mode"], r["model_dir"], r["task_type"], r["p_label"])
        if key in base and r["wall_clock_seconds"] > 0:
            cell["speedup"].append(statistics.fmean(base[key]) / r["wall_clock_seconds"])
        cell["tokens"].append(float(r["total_input_tokens"] + r["total_output_tokens"]))
        cell["claims"].append(float(r["claims_blocked"]))
    return {
        key: {
            "speedup": _median(v["speedup"]),
            "tokens": _median(v["tokens"]),
            "claims_blocked": _median(v["claims"]),
            "success": statistics.fmean(v["success"]),
            "runs": len(v["success"]),
        }
        for key, v in cells.items()
    }


def study_projects(tasks_dir: Path) -> dict[str, ProjectSpec]:
    """The study's nine projects by condition (suite_pXX)."""
    if not tasks_dir.is_dir():
        raise ConfigError("no such folder (the study's task files)", source=str(tasks_dir))
    projects = {p.stem: load_project(p) for p in sorted(tasks_dir.glob("*_p0[259].json"))}
    if not projects:
        raise ConfigError("no study task files (suite_p02.json ...) here", source=str(tasks_dir))
    return projects


def match(project: ProjectSpec, study: dict[str, ProjectSpec]) -> str | None:
    """The study condition ``project`` is (None: none). Same name, task ids and files; then the
    same dependencies, else the nearest labelled p (a project that declared missing edges)."""

    def files(p: ProjectSpec) -> frozenset[tuple[str, tuple[str, ...]]]:
        return frozenset((t.id, tuple(t.files)) for t in p.tasks)

    def deps(p: ProjectSpec) -> frozenset[tuple[str, frozenset[str]]]:
        return frozenset((t.id, frozenset(t.dependencies)) for t in p.tasks)

    same = [
        stem
        for stem, s in study.items()
        if s.project == project.project and files(s) == files(project)
    ]
    if not same:
        return None
    exact = [stem for stem in same if deps(study[stem]) == deps(project)]
    if exact:
        return exact[0]
    p = project.graph().p
    return min(same, key=lambda stem: abs(study[stem].graph().p - p))


# -- our side -------------------------------------------------------------------------------------


def _project_of(record: RunRecord) -> ProjectSpec:
    if record.kind != "run":
        raise ConfigError(
            f"run {record.run_id} is a {record.kind!r} run, not a project run", field="RUNS"
        )
    params = record.params.get("project")
    if params is None:
        raise ConfigError(
            f"run {record.run_id} has no project in its log (a planned run)", field="RUNS"
        )
    return ProjectSpec.model_validate(params)


def _row(store: EventStore, record: RunRecord, condition: str | None) -> RunRow:
    project = _project_of(record)
    settings = record.params.get("settings", {})
    metrics = compute(record.run_id, store.events(record.run_id), project.graph())
    return RunRow(
        run_id=record.run_id,
        condition=condition,
        project=project.project,
        topology=str(settings.get("topology", metrics.topology or "")),
        harness=str(settings.get("harness", "lmteams")),
        workers=int(settings.get("workers", metrics.workers)),
        status=record.status,
        makespan_s=metrics.makespan_s,
        tokens=metrics.total_tokens,
        claims_refused=metrics.claims_refused,
        suite_ok=metrics.suite_ok,
        suite_passed=metrics.suite_passed,
        suite_failed=metrics.suite_failed,
        speedup=None,
    )


def compare(
    store: EventStore, run_ids: Sequence[str], data_dir: Path, tasks_dir: Path | None = None
) -> Comparison:
    """Our runs ``run_ids`` beside the study's medians from ``data_dir`` (runs.parquet)."""
    if not run_ids:
        raise ConfigError("name at least one run", field="RUNS")
    cells = study_cells(data_dir)
    study = study_projects(tasks_dir or data_dir.parent / "tasks")
    records = list({rec.run_id: rec for rec in (store.run(r) for r in run_ids)}.values())
    rows = [_row(store, rec, match(_project_of(rec), study)) for rec in records]
    # n = 1 baselines: every successful one-worker run of the same project and topology
    base: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for rec in store.runs(limit=100_000, kind="run"):
        if rec.status != "done" or rec.params.get("settings", {}).get("workers") != 1:
            continue
        if "project" not in rec.params:
            continue
        one = _row(store, rec, None)
        if one.makespan_s > 0:
            base[_key(one, rec.params["project"])].append(one.makespan_s)
    rows = [
        r.model_copy(update={"speedup": _speedup(r, base.get(_key(r, rec.params["project"])))})
        for r, rec in zip(rows, records, strict=True)
    ]
    groups: dict[tuple[str, str, int], list[RunRow]] = defaultdict(list)
    for r in rows:
        groups[(r.condition or r.project, r.topology, r.workers)].append(r)
    table = []
    for (condition, topology, n), members in sorted(groups.items()):
        kept = [m for m in members if m.status == "done"]
        suites = [m for m in members if m.suite_ok is not None]
        mode = MODES.get(topology)
        cell = cells.get((mode, condition, n), {}) if mode else {}
        table.append(
            CompareRow(
                condition=condition,
                topology=topology,
                workers=n,
                runs=len(members),
                kept=len(kept),
                speedup=_median([m.speedup for m in kept if m.speedup is not None]),
                tokens=_median([float(m.tokens) for m in kept]),
                claims_refused=_median([float(m.claims_refused) for m in members]),
                suite_passed=sum(1 for m in suites if m.suite_ok),
                suite_runs=len(suites),
                study_speedup=cell.get("speedup"),
                study_tokens=cell.get("tokens"),
                study_claims_blocked=cell.get("claims_blocked"),
                study_success=cell.get("success"),
                study_runs=int(cell.get("runs", 0)),
            )
        )
    excluded = sum(1 for r in rows if r.status != "done")
    return Comparison(rows=table, runs=rows, excluded=excluded, data=str(data_dir))


def _speedup(row: RunRow, baseline: list[float] | None) -> float | None:
    if row.status != "done" or row.makespan_s <= 0 or not baseline:
        return None
    return statistics.fmean(baseline) / row.makespan_s


def _key(row: RunRow, project: dict[str, Any]) -> tuple[str, str, str]:
    return (json.dumps(project, sort_keys=True), row.topology, row.harness)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def comparison_plot(comparison: Comparison, path: Path) -> Path:
    """Speedup against n per condition and topology: ours (markers), the study's (dashed)."""
    from lmteams.analysis.plots import _pyplot

    plt = _pyplot()
    conditions = sorted({r.condition for r in comparison.rows})
    fig, axes = plt.subplots(1, len(conditions), figsize=(5 * len(conditions), 4), squeeze=False)
    for ax, condition in zip(axes[0], conditions, strict=True):
        rows = [r for r in comparison.rows if r.condition == condition]
        for topology in sorted({r.topology for r in rows}):
            mine = sorted((r for r in rows if r.topology == topology), key=lambda r: r.workers)
            ours = [(r.workers, r.speedup) for r in mine if r.speedup is not None]
            color = None
            if ours:
                line = ax.plot(*zip(*ours, strict=True), "o-", label=f"{topology} (lmteams)")[0]
                color = line.get_color()
            # the study's medians are drawn even when no run of ours finished (none kept)
            theirs = [(r.workers, r.study_speedup) for r in mine if r.study_speedup]
            if theirs:
                ax.plot(
                    *zip(*theirs, strict=True),
                    "s--",
                    color=color,
                    alpha=0.6,
                    label=f"{topology} (study)",
                )
        label = condition.rsplit("_", 1)[-1]
        if label in P_LABELS:
            ns = [n / 10 for n in range(10, 10 * max(r.workers for r in rows) + 1)]
            p = P_LABELS[label]
            ax.plot(ns, [amdahl(p, n) for n in ns], "k:", label=f"Amdahl (p = {p})")
        ax.axhline(1.0, color="grey", linewidth=0.5)
        ax.set_title(condition)
        ax.set_xlabel("agents (n)")
        ax.set_ylabel("median speedup vs n = 1")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no speedup: no n = 1 run", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
