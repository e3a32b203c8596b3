"""Reports: one self-contained HTML page (figures embedded) plus the PNG files, for a real run,
a sweep or a simulation, built from the same figures so that they can be laid side by side.

- a project run: its metrics, each task's cost (calls, attempts, tokens), a Gantt chart of the
  tasks with the claims and lead calls beneath it, the speedup against an n = 1 run of the
  same project found in the event log, message counts where nodes message each other, and
  the vote split where the run reached consensus decisions (``ask``, ``eval``);
- a sweep (the ``--out`` folder of ``lmteams sweep``): median speedup against n with the
  Amdahl curve and the DAG bound, token cost against n, a Gantt chart per topology;
- a simulation (the ``--out`` folder of ``lmteams simulate``): the same two curves with 95%
  confidence intervals, and the Gantt chart of one simulated run per topology.

The page is rendered from a jinja2 template (``templates/report.html.j2``, autoescaped), with
its figures embedded, so the one file can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lmteams.analysis import plots
from lmteams.analysis.metrics import RunMetrics, compute, with_baseline
from lmteams.analysis.task_costs import task_costs
from lmteams.errors import ConfigError, RunNotFound
from lmteams.limits import MAX_DATASET_BYTES, load_json, read_text
from lmteams.scheduling.graph import TaskGraph
from lmteams.state.events import MESSAGE
from lmteams.state.projects import executed_project
from lmteams.state.store import EventRecord, EventStore, RunRecord

COORDINATOR = "coordinator"
GANTT_MAX_NODES = 60
TEMPLATE = "report.html.j2"


class Table(NamedTuple):
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


class Figure(NamedTuple):
    title: str
    path: Path
    caption: str = ""


@dataclass
class Page:
    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- pure helpers ----------------------------------------------------------------------------


def message_pairs(events: Sequence[EventRecord]) -> dict[tuple[str, str], int]:
    """(sender, recipient) -> messages, from a run's message events."""
    pairs: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.type != MESSAGE:  # envelopes, read as logged
            continue
        data = event.data
        for recipient in data.get("recipients") or ():
            pairs[(str(data.get("sender")), str(recipient))] += 1
    return dict(pairs)


def peer_pairs(pairs: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The pairs in which a node messaged another node, the coordinator left out: every run
    has the coordinator's requests and their replies, which say nothing of the team."""
    return {(a, b): n for (a, b), n in pairs.items() if COORDINATOR not in (a, b) and a != b}


def coordination_marks(events: Sequence[EventRecord]) -> list[plots.Mark]:
    """Claims granted (the rounds harness's ``claim``) and refused (``claim_refused``)."""
    kinds = {"claim": "claimed", "claim_refused": "refused"}
    return [
        plots.Mark(t=row.t, node=row.node or "", kind=kinds[row.type])
        for row in events
        if row.type in kinds and row.node
    ]


def p_from_amdahl(speedup: float, n: int) -> float:
    """Invert Amdahl's law at one n > 1 (for sweep tables without their project)."""
    return (1 - 1 / speedup) / (1 - 1 / n) if n > 1 and speedup > 0 else 0.0


# -- HTML ----------------------------------------------------------------------------------------


def _slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def render_html(page: Page) -> str:
    """The page's HTML: the template filled, each figure embedded as a data URI."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("lmteams.analysis", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    figures = [
        {
            "title": f.title,
            "slug": _slug(f.title),
            "name": f.path.name,
            "caption": f.caption,
            "src": "data:image/png;base64," + base64.b64encode(f.path.read_bytes()).decode(),
        }
        for f in page.figures
    ]
    tables = [{**t._asdict(), "slug": _slug(t.title)} for t in page.tables]
    view = {
        "title": page.title,
        "subtitle": page.subtitle,
        "facts": page.facts,
        "tables": tables,
        "figures": figures,
        "notes": page.notes,
    }
    return env.get_template(TEMPLATE).render(page=view)


def write_html(page: Page, out: Path, name: str = "report.html") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    target.write_text(render_html(page), encoding="utf-8")
    return target


# -- one real run ----------------------------------------------------------------------------


def _run_facts(metrics: RunMetrics, status: str) -> list[tuple[str, str]]:
    facts = [
        ("status", status),
        ("topology", str(metrics.topology)),
        ("workers", str(metrics.workers)),
        ("tasks done", f"{metrics.tasks_done}/{metrics.tasks} ({metrics.tasks_failed} failed)"),
        ("makespan", f"{metrics.makespan_s:.2f}s"),
        ("rounds", str(metrics.rounds)),
        ("calls / messages", f"{metrics.calls} / {metrics.messages}"),
        ("tokens", f"{metrics.prompt_tokens} + {metrics.completion_tokens}"),
        ("claims refused", str(metrics.claims_refused)),
        ("steals", str(metrics.steals)),
        (
            "straggler gap",
            f"{metrics.straggler_gap_s:.2f}s (worst {metrics.straggler_gap_max_s:.2f}s)",
        ),
    ]
    if metrics.p is not None:
        facts.append(
            (
                "p, C, Amdahl",
                f"{metrics.p:.2f}, {metrics.critical_path}, {metrics.amdahl_speedup:.2f}x",
            )
        )
    if metrics.lower_bound_s is not None:
        facts.append(
            (
                "DAG lower bound",
                f"{metrics.lower_bound_s:.2f}s ({metrics.bound_ratio:.0%} of the makespan)",
            )
        )
    if metrics.speedup is not None:
        facts.append(("speedup", f"{metrics.speedup:.2f}x (efficiency {metrics.efficiency:.0%})"))
    if metrics.suite_ok is not None:
        counts = f" ({metrics.suite_counts})" if metrics.suite_counts else ""
        facts.append(("suite", ("passed" if metrics.suite_ok else "failed") + counts))
    if metrics.undeclared_writes or metrics.read_only_refused or metrics.parked:
        facts.append(
            (
                "undeclared writes / refused / parked",
                f"{metrics.undeclared_writes} / {metrics.read_only_refused} / {metrics.parked}",
            )
        )
    return facts


def _problem_table(metrics: RunMetrics) -> Table:
    rows = [[p.task, p.state, p.reason] for p in metrics.problems]
    return Table("tasks not done", ["task", "state", "reason"], rows)


def _node_table(metrics: RunMetrics) -> Table:
    rows = [
        [
            n.node,
            str(n.tasks_done),
            str(n.calls),
            f"{n.busy_s:.2f}s",
            f"{n.idle_s:.2f}s",
            str(n.prompt_tokens + n.completion_tokens),
        ]
        for n in metrics.nodes
    ]
    return Table("nodes", ["node", "tasks", "calls", "busy", "idle", "tokens"], rows)


def _task_table(events: Sequence[EventRecord], metrics: RunMetrics) -> Table | None:
    costs = task_costs(events)
    if not costs:
        return None
    rows = [
        [
            c.task,
            c.node,
            c.outcome,
            str(c.attempts),
            str(c.calls),
            str(c.prompt_tokens),
            str(c.completion_tokens),
            f"{c.tokens / metrics.total_tokens:.0%}" if metrics.total_tokens else "",
        ]
        for c in costs
    ]
    spent = sum(c.tokens for c in costs)
    caption = (
        f"{sum(c.calls for c in costs)} of the run's {metrics.calls} calls and {spent} of its "
        f"{metrics.total_tokens} tokens went to tasks; the rest to claims, lead and plan calls."
    )
    header = ["task", "node", "outcome", "attempts", "calls", "prompt", "completion", "share"]
    return Table("cost per task", header, rows, caption)


def _gantt(
    metrics: RunMetrics,
    out: Path,
    name: str,
    page: Page,
    title: str,
    marks: Sequence[plots.Mark] = (),
) -> None:
    if not metrics.spans:
        return
    if len(metrics.nodes) > GANTT_MAX_NODES:
        page.notes.append(f"{title}: {len(metrics.nodes)} nodes, too many for a Gantt chart.")
        return
    caption = (
        "below: claim calls, lead calls and claims granted or refused, on the same time axis"
        if metrics.call_spans or marks
        else ""
    )
    page.figures.append(Figure(title, plots.gantt_plot(metrics, out / name, marks=marks), caption))


def find_baseline(store: EventStore, record: RunRecord) -> RunRecord | None:
    """The latest finished n = 1 run of ``record``'s project, the same topology and harness
    preferred. A failed or stopped run never feeds a speedup: its makespan measures nothing."""
    project = record.params.get("project")
    if project is None:
        return None
    settings = record.params.get("settings") or {}
    same: list[RunRecord] = []
    other: list[RunRecord] = []
    for rec in store.runs(limit=100_000, kind="run"):
        mine = rec.params.get("settings") or {}
        if rec.run_id == record.run_id or rec.status != "done" or mine.get("workers") != 1:
            continue
        if rec.params.get("project") != project:
            continue
        alike = all(mine.get(k) == settings.get(k) for k in ("topology", "harness"))
        (same if alike else other).append(rec)
    found = same or other
    return max(found, key=lambda r: r.created_at) if found else None


def report_run(
    store: EventStore, run_id: str, out: Path, *, baseline: str | None = None
) -> list[Path]:
    record = store.run(run_id)
    events = store.events(record.run_id)
    page = Page(f"Run {record.run_id}", f"{record.kind} run · team {record.team or '?'}")
    out.mkdir(parents=True, exist_ok=True)
    graph: TaskGraph | None = None
    if record.kind == "run":
        project = executed_project(store, record)
        graph = project.graph() if project is not None else None
        metrics = compute(record.run_id, events, graph)
        base = store.run(baseline) if baseline else find_baseline(store, record)
        if base is not None and base.run_id != record.run_id:
            metrics = with_baseline(metrics, compute(base.run_id, store.events(base.run_id), graph))
        page.facts = _run_facts(metrics, record.status)
        if base is not None and metrics.speedup is not None:
            how = "given" if baseline else "found in the event log"
            page.facts.append(("n = 1 baseline", f"{base.run_id} ({how})"))
        page.tables.append(_node_table(metrics))
        tasks = _task_table(events, metrics)
        if tasks is not None:
            page.tables.append(tasks)
        if metrics.problems:
            page.tables.append(_problem_table(metrics))
        _gantt(
            metrics, out, "gantt.png", page, "Tasks, claims and lead calls (Gantt)",
            coordination_marks(events),
        )  # fmt: skip
        if metrics.speedup is None:
            page.notes.append(
                "No speedup: the event log has no finished n = 1 run of this project (run it "
                "with --workers 1, or pass --baseline RUN), or report a sweep's folder for "
                "speedup and token curves against n."
            )
    else:
        metrics = compute(record.run_id, events, None)
        page.facts = [
            ("status", record.status),
            ("calls / messages", f"{metrics.calls} / {metrics.messages}"),
            ("tokens", f"{metrics.prompt_tokens} + {metrics.completion_tokens}"),
            ("wall", f"{metrics.wall_s:.2f}s"),
        ]
        page.tables.append(_node_table(metrics))
    _messages(events, out / "messages.png", page, "Messages between nodes")
    decisions = [e.data for e in events if e.type == "decision"]
    if decisions:
        page.figures.append(
            Figure("Consensus agreement", plots.agreement_plot(decisions, out / "agreement.png"))
        )
    return [*(f.path for f in page.figures), write_html(page, out)]


def _messages(events: Sequence[EventRecord], path: Path, page: Page, title: str) -> None:
    """The heat-map of messages between nodes, drawn only where nodes messaged each other."""
    pairs = peer_pairs(message_pairs(events))
    if pairs:
        page.figures.append(Figure(title, plots.message_pairs_plot(pairs, path)))


# -- a sweep ---------------------------------------------------------------------------------------


def report_sweep(folder: Path, store: EventStore | None, out: Path) -> list[Path]:
    from lmteams.coordinator.sweep import MEDIAN_COLUMNS, SweepRow, median_cells, medians

    source = folder / "sweep.json" if folder.is_dir() else folder
    data = load_json(read_text(source, max_bytes=MAX_DATASET_BYTES), source=str(source))
    try:
        rows = [SweepRow.model_validate(r) for r in data]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not a sweep table: {_problem(exc)}", source=str(source)) from None
    if not rows:
        raise ConfigError("the sweep table is empty", source=str(source))
    table = medians(rows)
    out.mkdir(parents=True, exist_ok=True)
    page = Page(f"Sweep {folder.name}", f"{len(rows)} runs from {source}")
    graph = _sweep_graph(store, rows)
    counts = sorted({r.workers for r in rows})
    if graph is not None:
        p = graph.p
        bound = {n: graph.n / graph.lower_bound(n) for n in counts}
    else:
        sample = next((r for r in rows if r.workers > 1 and r.amdahl), None)
        p = p_from_amdahl(sample.amdahl or 1.0, sample.workers) if sample else 0.0
        bound = None
    page.figures.append(
        Figure(
            "Speedup against n",
            plots.speedup_plot(table, p, out / "speedup.png", lower_bound=bound),
        )
    )
    page.figures.append(
        Figure("Token cost against n", plots.tokens_plot(table, out / "tokens.png"))
    )
    page.tables.append(Table("medians", list(MEDIAN_COLUMNS), median_cells(table)))
    if store is not None:
        for topology in sorted({r.topology for r in rows}):
            pick = max((r for r in rows if r.topology == topology), key=lambda r: r.workers)
            try:
                events = store.events(store.run(pick.run_id).run_id)
            except RunNotFound:
                page.notes.append(f"run {pick.run_id} is not in this event log; no Gantt chart.")
                continue
            metrics = compute(pick.run_id, events, graph)
            where = f"{topology}, n = {pick.workers}"
            _gantt(
                metrics, out, f"gantt-{topology}.png", page, f"Gantt: {where}",
                coordination_marks(events),
            )  # fmt: skip
            _messages(
                events, out / f"messages-{topology}.png", page, f"Messages between nodes: {where}"
            )
    return [*(f.path for f in page.figures), write_html(page, out)]


def _sweep_graph(store: EventStore | None, rows: Sequence[Any]) -> TaskGraph | None:
    if store is None:
        return None
    try:
        record = store.run(rows[0].run_id)
    except RunNotFound:
        return None
    project = executed_project(store, record)
    return project.graph() if project is not None else None


# -- a simulation ------------------------------------------------------------------------------------


def report_simulation(grid: Any, out: Path) -> list[Path]:
    """``grid`` is a :class:`lmteams.sim.summary.SimGrid`."""
    out.mkdir(parents=True, exist_ok=True)
    page = Page(
        f"Simulation of {grid.project}",
        f"N = {grid.tasks}, C = {grid.critical_path}, p = {grid.p:.2f} · {grid.harness} "
        f"harness · latency {grid.latency}" + (f" · faults {grid.faults}" if grid.faults else ""),
    )
    table = grid.medians()
    counts = sorted({c.workers for c in grid.cells})
    bound = {c.workers: c.dag_speedup for c in grid.cells}
    intervals = {(c.topology, c.workers): (c.speedup.low, c.speedup.high) for c in grid.cells}
    page.figures.append(
        Figure(
            "Median speedup against n (bars: 95% CI of the mean)",
            plots.speedup_plot(
                table,
                grid.p,
                out / "speedup.png",
                lower_bound={n: bound[n] for n in counts},
                intervals=intervals,
            ),
        )
    )
    page.figures.append(
        Figure("Token cost against n", plots.tokens_plot(table, out / "tokens.png"))
    )
    page.tables.append(
        Table(
            "results (mean [95% CI] over repetitions)",
            [
                "topology",
                "n",
                "makespan s",
                "speedup",
                "Amdahl",
                "DAG bound",
                "bound/makespan",
                "tokens ×",
                "messages",
                "idle s/node",
                "straggler gap s",
                "claims refused",
                "done",
            ],
            [
                [
                    c.topology,
                    str(c.workers),
                    c.makespan_s.text(1),
                    c.speedup.text(2),
                    f"{c.amdahl:.2f}",
                    f"{c.dag_speedup:.2f}",
                    _fmt(c.bound_ratio.mean, "{:.0%}"),
                    _fmt(c.token_ratio.mean, "{:.2f}"),
                    _fmt(c.messages.mean, "{:.0f}"),
                    _fmt(c.idle_s.mean, "{:.1f}"),
                    _fmt(c.straggler_gap_s.mean, "{:.1f}"),
                    _fmt(c.claims_refused.mean, "{:.1f}"),
                    f"{c.done}/{c.reps}",
                ]
                for c in grid.cells
            ],
        )
    )
    largest = max(counts)
    for topology in sorted({c.topology for c in grid.cells}):
        metrics = grid.examples.get(f"{topology}/{largest}")
        if metrics is None:
            continue
        # Simulated nodes only talk to the coordinator: no message heat-map to draw.
        _gantt(metrics, out, f"gantt-{topology}.png", page, f"Gantt: {topology}, n = {largest}")
    for where, why in grid.infeasible.items():
        page.notes.append(f"{where}: not simulated: {why}")
    page.notes.append(
        f"{grid.events} events simulated in {grid.elapsed_s:.2f}s "
        f"({grid.policy_s:.2f}s of it in the scheduling policies)."
    )
    return [*(f.path for f in page.figures), write_html(page, out)]


def _fmt(value: float, pattern: str) -> str:
    return "" if value is None or math.isnan(value) else pattern.format(value)


# -- dispatch ----------------------------------------------------------------------------------------


def report(
    target: str, out: Path, *, store: EventStore | None, baseline: str | None = None
) -> list[Path]:
    """Report a run id, a sweep folder (or its sweep.json) or a simulation folder (or its
    simulation.json)."""
    path = Path(target)
    if path.exists():
        folder = path if path.is_dir() else path.parent
        simulation = (
            path if path.is_file() and path.name.endswith(".json") else folder / "simulation.json"
        )
        if simulation.exists() and _is_simulation(simulation):
            from lmteams.sim.summary import SimGrid

            text = read_text(simulation, max_bytes=MAX_DATASET_BYTES)
            load_json(text, source=str(simulation))  # depth checked before pydantic reads it
            try:
                grid = SimGrid.model_validate_json(text)
            except ValueError as exc:
                raise ConfigError(
                    f"not a simulation: {_problem(exc)}", source=str(simulation)
                ) from None
            return report_simulation(grid, out)
        sweep = path if path.is_file() else folder / "sweep.json"
        if sweep.exists():
            return report_sweep(sweep, store, out)
        raise ConfigError(
            "no simulation.json or sweep.json here; give a run id, a sweep folder or a "
            "simulation folder",
            field="RUN_OR_SWEEP",
            source=str(path),
        )
    if store is None:
        raise ConfigError(f"no such file or folder: {target}", field="RUN_OR_SWEEP")
    return report_run(store, target, out, baseline=baseline)


def _problem(exc: Exception) -> str:
    """A validation error in one line: the first failing field and why."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_simulation(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return '"kind"' in head and "simulation" in head
