"""Reports: one self-contained HTML page (figures embedded) plus the PNG files, for a real run,
a sweep or a simulation, built from the same figures so that they can be laid side by side.

- a project run: its metrics, a Gantt chart of node activity, message counts per node pair,
  and the vote split where the run reached consensus decisions (``ask``, ``eval``);
- a sweep (the ``--out`` folder of ``lmteams sweep``): median speedup against n with the
  Amdahl curve and the DAG bound, token cost against n, a Gantt chart per topology;
- a simulation (the ``--out`` folder of ``lmteams simulate``): the same two curves with 95%
  confidence intervals, Gantt charts and message counts of one simulated run per topology.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmteams.analysis import plots
from lmteams.analysis.metrics import RunMetrics, compute, with_baseline
from lmteams.errors import ConfigError, RunNotFound
from lmteams.limits import MAX_DATASET_BYTES, load_json, read_text
from lmteams.scheduling.graph import TaskGraph
from lmteams.state.projects import executed_project
from lmteams.state.store import EventStore

COORDINATOR = "coordinator"
GANTT_MAX_NODES = 60


@dataclass
class Page:
    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- pure helpers ----------------------------------------------------------------------------


def message_pairs(events: Sequence[Any]) -> dict[tuple[str, str], int]:
    """(sender, recipient) -> messages, from a run's message events."""
    pairs: Counter[tuple[str, str]] = Counter()
    for event in events:
        row = event if isinstance(event, dict) else event.model_dump()
        if row["type"] != "message":
            continue
        data = row["data"]
        for recipient in data.get("recipients") or ():
            pairs[(str(data.get("sender")), str(recipient))] += 1
    return dict(pairs)


def simulated_pairs(metrics: RunMetrics) -> dict[tuple[str, str], int]:
    """The same counts for a simulated run: every call is coordinator -> node and back."""
    pairs: dict[tuple[str, str], int] = {}
    for node in metrics.nodes:
        requests = node.messages - node.calls
        if requests:
            pairs[(COORDINATOR, node.node)] = requests
        if node.calls:
            pairs[(node.node, COORDINATOR)] = node.calls
    return pairs


def p_from_amdahl(speedup: float, n: int) -> float:
    """Invert Amdahl's law at one n > 1 (for sweep tables without their project)."""
    return (1 - 1 / speedup) / (1 - 1 / n) if n > 1 and speedup > 0 else 0.0


# -- HTML ----------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em}
.sub{color:#666;margin-top:0} table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left} img{max-width:100%;border:1px solid #eee}
figure{margin:1.2em 0} figcaption{color:#555;font-size:.9em} .note{color:#666;font-size:.9em}
"""


def write_html(page: Page, out: Path, name: str = "report.html") -> Path:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(page.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(page.title)}</h1>",
    ]
    if page.subtitle:
        parts.append(f"<p class='sub'>{html.escape(page.subtitle)}</p>")
    if page.facts:
        parts.append("<table>")
        parts += [
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in page.facts
        ]
        parts.append("</table>")
    for title, header, rows in page.tables:
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in header]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    for title, path in page.figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h2>{html.escape(title)}</h2>"
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(path.name)}</figcaption></figure>"
        )
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in page.notes]
    parts.append("</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    target.write_text("\n".join(parts), encoding="utf-8")
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
        counts = (
            f" ({metrics.suite_passed} passed, {metrics.suite_failed} failed, "
            f"{metrics.suite_errors} errors)"
            if metrics.suite_passed is not None
            else ""
        )
        facts.append(("suite", ("passed" if metrics.suite_ok else "failed") + counts))
    if metrics.undeclared_writes or metrics.read_only_refused or metrics.parked:
        facts.append(
            (
                "undeclared writes / refused / parked",
                f"{metrics.undeclared_writes} / {metrics.read_only_refused} / {metrics.parked}",
            )
        )
    return facts


def _problem_table(metrics: RunMetrics) -> tuple[str, list[str], list[list[str]]]:
    rows = [[p.task, p.state, p.reason] for p in metrics.problems]
    return ("tasks not done", ["task", "state", "reason"], rows)


def _node_table(metrics: RunMetrics) -> tuple[str, list[str], list[list[str]]]:
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
    return ("nodes", ["node", "tasks", "calls", "busy", "idle", "tokens"], rows)


def _gantt(metrics: RunMetrics, out: Path, name: str, page: Page, title: str) -> None:
    if not metrics.spans:
        return
    if len(metrics.nodes) > GANTT_MAX_NODES:
        page.notes.append(f"{title}: {len(metrics.nodes)} nodes, too many for a Gantt chart.")
        return
    page.figures.append((title, plots.gantt_plot(metrics, out / name)))


def report_run(
    store: EventStore, run_id: str, out: Path, *, baseline: str | None = None
) -> list[Path]:
    record = store.run(run_id)
    events = store.events(record.run_id)
    page = Page(f"Run {record.run_id}", f"{record.kind} run · team {record.team or '?'}")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    graph: TaskGraph | None = None
    if record.kind == "run":
        project = executed_project(store, record)
        graph = project.graph() if project is not None else None
        metrics = compute(record.run_id, events, graph)
        if baseline:
            base = store.run(baseline)
            metrics = with_baseline(metrics, compute(base.run_id, store.events(base.run_id), graph))
        page.facts = _run_facts(metrics, record.status)
        page.tables.append(_node_table(metrics))
        if metrics.problems:
            page.tables.append(_problem_table(metrics))
        _gantt(metrics, out, "gantt.png", page, "Node activity (Gantt)")
        if metrics.speedup is None:
            page.notes.append(
                "Speedup needs an n = 1 run of the same project: pass --baseline RUN, or report "
                "a sweep's folder for speedup and token curves against n."
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
    pairs = message_pairs(events)
    if pairs:
        page.figures.append(
            ("Messages per node pair", plots.message_pairs_plot(pairs, out / "messages.png"))
        )
    decisions = [e.data for e in events if e.type == "decision"]
    if decisions:
        page.figures.append(
            ("Consensus agreement", plots.agreement_plot(decisions, out / "agreement.png"))
        )
    written += [p for _, p in page.figures]
    written.append(write_html(page, out))
    return written


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
        (
            "Speedup against n",
            plots.speedup_plot(table, p, out / "speedup.png", lower_bound=bound),
        )
    )
    page.figures.append(("Token cost against n", plots.tokens_plot(table, out / "tokens.png")))
    page.tables.append(
        (
            "medians",
            list(MEDIAN_COLUMNS),
            median_cells(table),
        )
    )
    if store is not None:
        for topology in sorted({r.topology for r in rows}):
            pick = max((r for r in rows if r.topology == topology), key=lambda r: r.workers)
            try:
                events = store.events(store.run(pick.run_id).run_id)
            except RunNotFound:
                page.notes.append(f"run {pick.run_id} is not in this event log; no Gantt chart.")
                continue
            metrics = compute(pick.run_id, events, graph)
            _gantt(
                metrics,
                out,
                f"gantt-{topology}.png",
                page,
                f"Gantt: {topology}, n = {pick.workers}",
            )
            pairs = message_pairs(events)
            if pairs:
                page.figures.append(
                    (
                        f"Messages per node pair: {topology}, n = {pick.workers}",
                        plots.message_pairs_plot(pairs, out / f"messages-{topology}.png"),
                    )
                )
    written = [p for _, p in page.figures]
    written.append(write_html(page, out))
    return written


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
        (
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
    page.figures.append(("Token cost against n", plots.tokens_plot(table, out / "tokens.png")))
    page.tables.append(
        (
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
        _gantt(metrics, out, f"gantt-{topology}.png", page, f"Gantt: {topology}, n = {largest}")
        if len(metrics.nodes) <= GANTT_MAX_NODES:
            page.figures.append(
                (
                    f"Messages per node pair: {topology}, n = {largest}",
                    plots.message_pairs_plot(
                        simulated_pairs(metrics), out / f"messages-{topology}.png"
                    ),
                )
            )
    for where, why in grid.infeasible.items():
        page.notes.append(f"{where}: not simulated: {why}")
    page.notes.append(
        f"{grid.events} events simulated in {grid.elapsed_s:.2f}s "
        f"({grid.policy_s:.2f}s of it in the scheduling policies)."
    )
    written = [p for _, p in page.figures]
    written.append(write_html(page, out))
    return written


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
