"""`lmteams analyze`, `lmteams run`, `lmteams sweep`, `lmteams metrics`: task-graph projects."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lmteams.analysis.metrics import RunMetrics, compute, with_baseline
from lmteams.cli.errors import run_exit_code
from lmteams.cli.groups import with_groups
from lmteams.cli.options import (
    DbOption,
    JsonOption,
    RuntimeFlags,
    SizesOption,
    ThreadsOption,
    out_option,
    team_option,
    topology_option,
)
from lmteams.cli.render import write_json
from lmteams.cli.session import open_store, run_async
from lmteams.cli.trace_option import TraceOption, traced
from lmteams.coordinator.request import RunRequest, run_request
from lmteams.coordinator.settings import RunResult, RunSettings, Snapshot
from lmteams.errors import ConfigError
from lmteams.scheduling.graph import amdahl
from lmteams.scheduling.project import ProjectSpec, resolve_project
from lmteams.scheduling.topologies import TOPOLOGIES
from lmteams.state.projects import executed_project

ProjectArgument = Annotated[
    str | None,
    typer.Argument(
        help="Project file (.json in the study's format, or .yaml), or a shipped project: tiny-math."
    ),
]
RunTeamOption = Annotated[
    str | None,
    team_option(
        "Team file. Default: the shipped 'coders' team (5 developers + a lead, embedded model).",
        envvar="LMTEAMS_TEAM",
    ),
]


# -- analyze ---------------------------------------------------------------------------------------


def analyze_command(
    project: Annotated[str, typer.Argument(help="Project file or shipped project name.")],
    max_workers: Annotated[int, typer.Option("--max-workers", min=1, max=1024)] = 8,
    run: Annotated[
        str | None,
        typer.Option("--run", help="Also read the code this run wrote for imports of tasks."),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """What the shape of a project predicts, before running it (Amdahl's law on its DAG).

    Prints N (tasks), C (tasks on the longest dependency chain, and its expected time when
    tasks carry estimate_s), p = (N - C) / N, the Amdahl speedup S(n) = 1/((1-p) + p/n), the
    DAG lower bound on makespan max(C, ceil(N/n)) for unit tasks, and a recommended team size
    (the smallest n past which one more node adds under 10% speedup). Imports of other tasks'
    modules that the graph does not order (in descriptions, and with --run in the written
    code) are listed with the effective C and p they imply.

    Example: lmteams analyze ../shared/paper/tasks/mathutilities20_p05.json
    """
    from lmteams.analysis.shape import project_shape, written_code

    code = written_code(open_store(db, read_only=True), run) if run else None
    shape = project_shape(resolve_project(project), max_workers=max_workers, code=code)
    if json_output:
        write_json(shape)
        return
    console = Console()
    console.print(
        f"[bold]{shape.project}[/]: N = {shape.n_tasks} tasks, C = {shape.critical_path} on the "
        f"critical path, p = {shape.p:.2f}"
    )
    if shape.has_estimates:
        console.print(
            f"critical path time {shape.critical_path_time:g}s of {shape.total_time:g}s total work"
        )
    console.print("critical path: " + " → ".join(shape.critical_path_tasks))
    edges = shape.undeclared_imports
    if edges:
        console.print(
            f"[yellow]warning:[/] {len(edges)} imports of other tasks' modules are not declared "
            "dependencies: "
            + ", ".join(f"{e.task} → {e.from_task} ({e.imports})" for e in edges[:8])
            + (" ..." if len(edges) > 8 else "")
        )
        if shape.effective_p is None:
            console.print("[yellow]with them the graph has a cycle[/]")
        else:
            console.print(
                f"effective C = {shape.effective_critical_path}, p = {shape.effective_p:.2f} "
                f"(labelled C = {shape.critical_path}, p = {shape.p:.2f})"
            )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("n", "Amdahl S(n)", "DAG bound (tasks)", "DAG speedup") + (
        ("bound (time)",) if shape.has_estimates else ()
    ):
        table.add_column(column, justify="right")
    for row in shape.by_workers:
        cells = [str(row.n), f"{row.amdahl:.2f}", str(row.lower_bound), f"{row.dag_speedup:.2f}"]
        if row.lower_bound_time is not None:
            cells.append(f"{row.lower_bound_time:g}s")
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"recommended team size: [bold]{shape.recommended_workers}[/] (one more node adds under 10%)"
    )


# -- run -----------------------------------------------------------------------------------------


class RunView:
    """The live view of a run: task counts, and what each node is doing."""

    def __init__(self, total: int, topology: str) -> None:
        self.total = total
        self.topology = topology
        self.snapshot: Snapshot | None = None
        self.started = time.perf_counter()

    def update(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def __rich__(self) -> Group:
        snap = self.snapshot
        elapsed = time.perf_counter() - self.started
        if snap is None:
            return Group(Text(f"starting ({self.topology}) · {elapsed:.1f}s"))
        counts = snap.counts
        head = Text(
            f"{self.topology} · {counts.get('done', 0)}/{self.total} done · {snap.ready} ready · "
            f"{counts.get('running', 0)} running · {counts.get('failed', 0)} failed · "
            f"{snap.tokens} tokens · {elapsed:.1f}s",
            style="bold",
        )
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("node")
        table.add_column("doing")
        table.add_column("health")
        for node, doing in snap.nodes.items():
            health = snap.health.get(node, "")
            table.add_row(
                node,
                Text(doing, style="dim" if doing == "idle" else ""),
                Text(health, style={"suspect": "yellow", "dead": "red"}.get(health, "dim")),
            )
        roles = " · ".join(
            f"{role}: {busy}/{size} busy, {queue} queued"
            for role, (busy, size, queue) in snap.roles.items()
        )
        breakers = ", ".join(
            f"{e} {state}" for e, state in snap.breakers.items() if state != "closed"
        )
        notes = ", ".join(f"{k}: {v}" for k, v in snap.notes.items())
        lines: list[Text | Table] = [head, table, Text(roles, style="cyan")]
        if breakers:
            lines.append(Text(f"breakers: {breakers}", style="red"))
        if notes:
            lines.append(Text(notes, style="yellow"))
        return Group(*lines)


def one_line(text: str, limit: int = 160) -> str:
    """A reason on one line, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def print_run(console: Console, result: RunResult, metrics: RunMetrics) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("node", "tasks", "calls", "busy", "idle", "tokens"):
        table.add_column(column, justify="right" if column != "node" else "left")
    for node in metrics.nodes:
        table.add_row(
            node.node,
            str(node.tasks_done),
            str(node.calls),
            f"{node.busy_s:.1f}s",
            f"{node.idle_s:.1f}s",
            str(node.prompt_tokens + node.completion_tokens),
        )
    console.print(table)
    style = "green" if result.status == "done" else "yellow"
    console.print(
        f"[{style}]{result.status}[/]: {metrics.tasks_done}/{metrics.tasks} tasks done "
        f"({metrics.tasks_failed} failed) · makespan {metrics.makespan_s:.2f}s · {metrics.rounds} rounds"
    )
    bound = (
        f" · lower bound {metrics.lower_bound_s:.2f}s ({metrics.bound_ratio:.0%} of it)"
        if metrics.bound_ratio
        else ""
    )
    console.print(
        f"p = {metrics.p:.2f}, C = {metrics.critical_path}, Amdahl predicts {metrics.amdahl_speedup:.2f}x at "
        f"n = {metrics.workers}{bound}"
    )
    console.print(
        f"{metrics.calls} calls · {metrics.messages} messages · {metrics.prompt_tokens} + "
        f"{metrics.completion_tokens} tokens · claims refused {metrics.claims_refused} · "
        f"write conflicts {metrics.write_conflicts} · rewrites {metrics.rewrites} · "
        f"checks {metrics.checks} ({metrics.checks_failed} failed) · straggler gap {metrics.straggler_gap_s:.2f}s"
    )
    if metrics.retries or metrics.hedges or metrics.failed_calls:
        console.print(
            f"resilience: {metrics.failed_calls} calls failed · {metrics.retries} resent · "
            f"{metrics.hedges} hedge copies ({metrics.hedges_won} won) costing "
            f"{metrics.hedge_extra_tokens} extra tokens (all counted in the calls and tokens above)"
        )
    if metrics.undeclared_writes or metrics.read_only_refused or metrics.parked:
        console.print(
            f"undeclared writes {metrics.undeclared_writes} · writes to project files refused "
            f"{metrics.read_only_refused} · parked (waiting for a module) {metrics.parked}"
        )
    if metrics.suite_ok is not None:
        counts = metrics.suite_counts or "no test counts"
        style = "green" if metrics.suite_ok else "red"
        console.print(f"suite: [{style}]{'passed' if metrics.suite_ok else 'failed'}[/] ({counts})")
    if metrics.segments > 1 and metrics.active_s is not None:
        console.print(
            f"{metrics.segments} coordinator segments (resumed): active {metrics.active_s:.1f}s "
            f"of {metrics.total_s or 0.0:.1f}s in total"
        )
    for problem in metrics.problems:
        console.print(f"[red]{problem.task}[/] {problem.state}: {one_line(problem.reason)}")
    console.print(f"[dim]files in {result.workspace} · run {result.run_id}[/]")


@with_groups
def run_command(
    project: ProjectArgument = None,
    goal: Annotated[
        str | None,
        typer.Option(
            "--goal", "-g", help="Plan the project from this goal first (the plan topology)."
        ),
    ] = None,
    team: RunTeamOption = None,
    topology: Annotated[str, topology_option(f"One of: {', '.join(TOPOLOGIES)}.")] = "steal",
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=4096, help="Worker nodes taking tasks.")
    ] = 3,
    balance: Annotated[
        str,
        typer.Option(
            "--balance",
            help="preassign/steal placement: least-loaded or round-robin (the study's).",
        ),
    ] = "least-loaded",
    lead: Annotated[
        str | None, typer.Option("--lead", help="Lead node for --topology lead.")
    ] = None,
    planner: Annotated[
        str | None, typer.Option("--planner", help="Planner node for --goal.")
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(
            "--check",
            help="Check command for every task without one (planned or from the file); "
            "{module} is the task's module, {python} this Python.",
        ),
    ] = None,
    success: Annotated[
        str,
        typer.Option(
            "--success",
            help="declared (a task is done when its node says so: the study's rule), checks "
            "(its check must pass) or suite (checks, plus the whole suite at the end).",
        ),
    ] = "checks",
    files: Annotated[
        Path | None,
        typer.Option("--files", help="Bring this folder's files (tests, fixtures), read-only."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    harness: Annotated[
        str,
        typer.Option(
            "--harness",
            help="lmteams: one call per task attempt; rounds: the study's protocol, every "
            "agent called each round, acting through JSON actions (decentralized, preassign).",
        ),
    ] = "lmteams",
    max_rounds: Annotated[
        int,
        typer.Option(
            "--max-rounds", min=0, help="--harness rounds: stop after N rounds (0: 5 per task)."
        ),
    ] = 0,
    lease_s: Annotated[
        float,
        typer.Option(
            "--lease-s",
            help="--topology dynamic: a claimed task with no progress (an attempt, a check) "
            "for this many seconds is released.",
        ),
    ] = 600.0,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Write the project's files here (default: beside the event log, "
            "runs/RUN/workspace). Files of the same name are overwritten.",
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
    nodes_on: RuntimeFlags = RuntimeFlags(),
    threads: ThreadsOption = None,
    trace: TraceOption = None,
) -> None:
    """Run a project (a graph of tasks) with a team under a coordination topology.

    Topologies: preassign (queues fixed before the start, chains kept on one node), steal
    (preassign plus work stealing), decentralized (each node's model claims tasks from the
    shared list; invalid claims are refused and counted), lead (a lead node's model assigns
    tasks through validated JSON), dynamic (decentralized claims, plus agents adding,
    splitting and linking tasks while it runs, validated; a claim without progress for
    --lease-s is released), plan (a planner turns --goal into a task graph, then steal).
    Each task's files go into a shared workspace with leases and versioned writes; its check
    command runs in a sandbox. Shows a live view, then the run's metrics. --harness rounds
    runs the study's protocol instead (decentralized or preassign): every agent is called each
    round and acts through JSON actions (docs/taskgraphs.md).

    Example: lmteams run tiny-math --topology steal --workers 3

    Exit codes: 0 every task done, 4 the run did not finish (tasks failed, it stalled, its
    budget stopped it: `lmteams resume RUN`, or --max-rounds ran out), 2 bad input, 1 internal
    error, 130 interrupted.
    """
    request = RunRequest(
        project=project, goal=goal, team=team, topology=topology, workers=workers,
        balance=balance, lead=lead, planner=planner, check=check, success=success, files=files,
        seed=seed, harness=harness, max_rounds=max_rounds, lease_s=lease_s, workdir=workdir,
        threads=threads,
    )  # fmt: skip
    view = RunView(0, request.settings().topology)

    def started(spec_project: ProjectSpec | None, settings: RunSettings) -> None:
        view.total = spec_project.graph().n if spec_project else 0

    store = open_store(db)
    console = Console(stderr=json_output)
    nodes_runtime = nodes_on.make()
    go = functools.partial(
        run_request, request, store, runtime=nodes_runtime, on_update=view.update, on_start=started
    )
    with traced(store, trace, "run") as traced_run:
        if json_output:
            report = run_async(go())
        else:
            with Live(view, console=console, refresh_per_second=8, transient=True):
                report = run_async(go())
        traced_run.run_id = report.result.run_id
    result, metrics = report.result, report.metrics
    if json_output:
        write_json(
            {
                "result": result.model_dump(mode="json"),
                "metrics": metrics.model_dump(mode="json", exclude={"spans"}),
            }
        )
    else:
        print_run(console, result, metrics)
    code = run_exit_code(result)
    if code:
        raise typer.Exit(code)


def metrics_command(
    run_id: Annotated[str, typer.Argument(help="A project run (id or unique prefix).")],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="An n = 1 run of the same project, for speedup."),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Metrics of a finished project run, computed from its event log."""
    store = open_store(db, read_only=True)
    record = store.run(run_id)
    if record.kind != "run":
        raise ConfigError(
            f"run {record.run_id} is a {record.kind!r} run, not a project run", field="RUN"
        )
    project = executed_project(store, record)
    if project is None:
        raise ConfigError(f"run {record.run_id} stopped before its plan was made", field="RUN")
    graph = project.graph()
    metrics = compute(record.run_id, store.events(record.run_id), graph)
    if baseline:
        base_record = store.run(baseline)
        metrics = with_baseline(
            metrics, compute(base_record.run_id, store.events(base_record.run_id), graph)
        )
    if json_output:
        write_json(metrics)
        return
    console = Console()
    result = (
        RunResult.model_validate(record.result)
        if record.result and "tasks" in record.result
        else RunResult(
            run_id=record.run_id,
            status=record.status,
            tasks={},
            workspace="",
            wall_s=metrics.wall_s,
        )
    )
    print_run(console, result, metrics)
    if metrics.speedup is not None:
        console.print(
            f"speedup {metrics.speedup:.2f}x vs baseline (Amdahl {amdahl(graph.p, metrics.workers):.2f}x), efficiency {metrics.efficiency:.0%}"
        )


@with_groups
def sweep_command(
    project: Annotated[str, typer.Argument(help="Project file or shipped project name.")],
    workers: SizesOption = "1..5",
    topology: Annotated[
        str,
        topology_option(
            "Comma-separated topologies.", shown_default="preassign, steal, decentralized"
        ),
    ] = "preassign,steal,decentralized",
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, max=1000)] = 1,
    team: RunTeamOption = None,
    out: Annotated[Path, out_option("Where to write sweep.csv, sweep.json and PNG plots.")] = Path(
        "sweep-out"
    ),
    balance: Annotated[str, typer.Option("--balance")] = "least-loaded",
    json_output: JsonOption = False,
    db: DbOption = None,
    nodes_on: RuntimeFlags = RuntimeFlags(),
) -> None:
    """Run a project over a grid of team sizes and topologies, repeated, and plot it.

    Writes a table (CSV and JSON) and PNG plots: median speedup against n with the Amdahl
    curve and the DAG bound, token cost against n, and a Gantt chart of one run per topology.
    Speedup is against the mean n = 1 run of the same topology (n = 1 is always run).

    Example: lmteams sweep tiny-math --workers 1..3 --topology preassign,steal --reps 2
    """
    from lmteams.coordinator.request import SweepRequest, sweep_request
    from lmteams.coordinator.sweep import MEDIAN_COLUMNS, median_cells

    request = SweepRequest(
        project=project, workers=workers, topologies=topology, reps=reps, team=team,
        balance=balance, out=out,
    )  # fmt: skip
    nodes_on.make()  # bad --runtime / --ray-address: fail before any run
    store = open_store(db)
    console = Console(stderr=True)
    done = 0

    def progress(top: str, n: int, rep: int, metrics: RunMetrics) -> None:
        nonlocal done
        done += 1
        console.print(
            f"[{done}/{request.runs}] {top} n={n} rep={rep}: makespan {metrics.makespan_s:.2f}s, "
            f"{metrics.tasks_done}/{metrics.tasks} done, {metrics.total_tokens} tokens"
        )

    # One Ray connection (or private cluster) for the whole grid, not one per run.
    lease = _ray_lease(nodes_on.ray_address) if nodes_on.is_ray else None
    try:
        report = run_async(
            sweep_request(request, store, runtime_factory=nodes_on.make, on_run=progress)
        )
    finally:
        if lease is not None:
            lease.release()
    table, written = report.medians, report.files
    if json_output:
        write_json({"medians": table, "files": [str(p) for p in written]})
        return
    console = Console()
    summary = Table(box=None, header_style="bold", pad_edge=False)
    for column in MEDIAN_COLUMNS:
        summary.add_column(column, justify="right" if column != "topology" else "left")
    for cells in median_cells(table):
        summary.add_row(*cells)
    console.print(summary)
    console.print("wrote " + ", ".join(str(p) for p in written))


COMMANDS = [
    ("run", run_command, 20),
    ("analyze", analyze_command, 21),
    ("sweep", sweep_command, 22),
    ("metrics", metrics_command, 23),
]


def _ray_lease(address: str | None) -> Any:
    from lmteams.runtime.ray.cluster import connect

    return connect(address)
