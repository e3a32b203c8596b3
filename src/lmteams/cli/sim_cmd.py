"""`lmteams simulate`, `lmteams calibrate`, `lmteams advise`: planning teams by simulation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lmteams.cli.options import (
    JsonOption,
    SizesOption,
    out_option,
    team_option,
    topology_option,
)
from lmteams.cli.render import write_json
from lmteams.cli.tables import Column, fitted_table

if TYPE_CHECKING:
    from lmteams.sim.advise import Advice
    from lmteams.sim.request import SimulationRequest
    from lmteams.sim.summary import SimGrid

LATENCY_HELP = (
    "Call latency: constant:S, lognormal:MEDIAN,SIGMA, empirical:V1,V2,... or empirical:@FILE, "
    "calibrated:FILE[:MODEL]; overrides after ';' as WHO[.KIND]=DIST (WHO: a node, model:NAME, "
    "role:NAME; KIND: task, claim, lead). See docs/simulator.md."
)
ProjectArg = Annotated[
    str,
    typer.Argument(
        help="Project file (.json/.yaml), shipped name (tiny-math), or a random graph "
        "random:SHAPE:OPTIONS, SHAPE one of layered, chains, forkjoin, e.g. "
        "random:layered:tasks=1000,layers=10 (see docs/simulator.md)"
    ),
]
LatencyOpt = Annotated[str, typer.Option("--latency", "-l", help=LATENCY_HELP)]
TokensOpt = Annotated[
    str | None,
    typer.Option(
        "--tokens",
        help="Tokens per call: prompt=DIST and completion=DIST, each optionally prefixed by WHO. "
        "and KIND. (e.g. n2.task.prompt=1200), or calibrated:FILE[:MODEL].",
    ),
]
FaultsOpt = Annotated[
    str | None,
    typer.Option(
        "--faults",
        help="Faults, as --inject writes them: n1:crash=3; n2:slow=10; *:error=0.05; seed=7.",
    ),
]
TeamOpt = Annotated[
    str | None, team_option("Team file: node names, roles and models (for overrides).")
]
HarnessOpt = Annotated[
    str,
    typer.Option(
        "--harness",
        help="lmteams: one call per task attempt, as `lmteams run`; rounds: the study's "
        "synchronous rounds, several tasks per call (use with a calibration).",
    ),
]


def _chance(flag: str, what: str) -> Any:
    """A dynamic-topology probability flag, 0 to 1."""
    return typer.Option(flag, min=0.0, max=1.0, help=f"dynamic: chance {what}")


def _progress_bar(total: int, quiet: bool) -> Progress:
    """A progress bar on stderr over ``total`` simulated runs (none with ``quiet``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )


def _simulated(request: SimulationRequest, quiet: bool) -> Any:
    """The request's grid (or advice, for an AdviceRequest), with a progress bar."""
    from lmteams.sim.request import AdviceRequest, recommend, simulate

    with _progress_bar(request.runs, quiet) as progress:
        bar = progress.add_task("simulating", total=request.runs)

        def step(top: str, n: int, rep: int, result: object) -> None:
            progress.update(bar, advance=1, description=f"{top} n={n} rep {rep}")

        if isinstance(request, AdviceRequest):
            return recommend(request, on_run=step)
        return simulate(request, on_run=step)


def simulate_command(
    project: ProjectArg,
    workers: SizesOption = "1..5",
    topology: Annotated[
        str, topology_option("Comma-separated: preassign, steal, decentralized, lead, dynamic.")
    ] = "steal",
    latency: LatencyOpt = "lognormal:10,0.5",
    tokens: TokensOpt = None,
    faults: FaultsOpt = None,
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, max=100_000)] = 5,
    harness: HarnessOpt = "lmteams",
    balance: Annotated[
        str,
        typer.Option("--balance", help="preassign/steal placement: least-loaded or round-robin."),
    ] = "least-loaded",
    chooser: Annotated[
        str,
        typer.Option(
            "--chooser",
            help="How a decentralized node's model claims: ready (a random ready task) or "
            "first-pending (the first open task on the board, the scripted test model's way).",
        ),
    ] = "ready",
    redo: Annotated[
        float,
        typer.Option(
            "--redo", min=0.0, max=0.99, help="Chance a task call fails its check and is redone."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    team: TeamOpt = None,
    profiles: Annotated[
        str,
        typer.Option(
            "--profiles",
            help="rounds harness with a calibration: condition (replay agents observed in "
            "teams of the same size) or solo (one-agent runs only).",
        ),
    ] = "condition",
    lease_s: Annotated[
        float,
        typer.Option("--lease-s", help="dynamic: a claim with no progress this long is released."),
    ] = 600.0,
    split_rate: Annotated[float, _chance("--split-rate", "a node splits a long task.")] = 0.5,
    split_size: Annotated[
        float,
        typer.Option(
            "--split-size", help="dynamic: a task is long from this size on (1 = the mean)."
        ),
    ] = 1.5,
    add_rate: Annotated[float, _chance("--add-rate", "a claim adds a follow-up task.")] = 0.05,
    dep_rate: Annotated[
        float, _chance("--dep-rate", "a claim proposes a dependency between two open tasks.")
    ] = 0.05,
    out: Annotated[
        Path | None, out_option("Write simulation.json, PNG figures and report.html here.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Simulate a project with the real scheduling policies on a virtual clock.

    Each (topology, n) is run --reps times with different seeds; n = 1 is always run (the
    speedup baseline). Prints makespan, speedup, efficiency against the DAG lower bound and
    Amdahl, tokens, messages, idle time and straggler gap, with 95% confidence intervals.
    Scales to 10,000 nodes and 100,000 tasks (steal, preassign).

    Examples:

      lmteams simulate ../shared/paper/tasks/svgutils_p05.json -T preassign,steal,decentralized

      lmteams simulate random:layered:tasks=100000,layers=20 -w 10000 -r 1 -T steal

      lmteams simulate tiny-math --latency "lognormal:8,0.5;n2=constant:40" --faults "n1:crash=2"
    """
    from lmteams.sim.request import SimulationRequest

    request = SimulationRequest(
        project=project, workers=workers, topologies=topology, latency=latency, tokens=tokens,
        faults=faults, reps=reps, harness=harness, balance=balance, chooser=chooser, redo=redo,
        seed=seed, team=team, profiles=profiles, lease_s=lease_s, split_rate=split_rate,
        split_size=split_size, add_rate=add_rate, dep_rate=dep_rate,
    )  # fmt: skip
    grid: SimGrid = _simulated(request, quiet=json_output)
    written: list[Path] = []
    if out is not None:
        from lmteams.analysis.report import report_simulation

        out.mkdir(parents=True, exist_ok=True)
        target = out / "simulation.json"
        target.write_text(grid.model_dump_json())
        written = [target, *report_simulation(grid, out)]
    if json_output:
        data = json.loads(grid.model_dump_json(exclude={"examples"}))
        data["files"] = [str(p) for p in written]
        write_json(data)
        return
    console = Console()
    console.print(
        f"[bold]{grid.project}[/]: N = {grid.tasks}, C = {grid.critical_path}, p = {grid.p:.4g} · "
        f"{grid.harness} harness · latency {grid.latency}"
        + (f" · faults {grid.faults}" if grid.faults else "")
    )
    cells = grid.cells
    table, dropped = fitted_table(
        [
            Column("topology", [c.topology for c in cells], justify="left"),
            Column("n", [str(c.workers) for c in cells]),
            Column("makespan s", [c.makespan_s.pm(1) for c in cells]),
            Column("speedup", [c.speedup.pm(2) for c in cells]),
            Column("Amdahl", [f"{c.amdahl:.2f}" for c in cells], priority=3),
            Column("DAG", [f"{c.dag_speedup:.2f}" for c in cells], priority=2),
            Column("bound", [f"{c.bound_ratio.mean:.0%}" for c in cells], priority=4),
            Column("tokens ×", [f"{c.token_ratio.mean:.2f}" for c in cells], priority=5),
            Column("msgs", [f"{c.messages.mean:.0f}" for c in cells], priority=7),
            Column("idle s", [f"{c.idle_s.mean:.1f}" for c in cells], priority=8),
            Column("gap s", [f"{c.straggler_gap_s.mean:.1f}" for c in cells], priority=9),
            Column("refused", [f"{c.claims_refused.mean:.1f}" for c in cells], priority=6),
            Column("done", [f"{c.done}/{c.reps}" for c in cells], priority=1),
        ],
        console.width,
    )
    console.print(table)
    if dropped:
        console.print(f"(left out at this width: {', '.join(dropped)}; --json has every column)")
    for where, why in grid.infeasible.items():
        console.print(f"[yellow]{where}: not simulated: {why}[/]")
    rate = grid.events / grid.elapsed_s if grid.elapsed_s else 0.0
    console.print(
        f"[dim]mean ± 95% CI over {grid.cells[0].reps} reps · DAG: N / max(C, ceil(N/n)) · "
        f"bound: DAG lower bound / makespan · idle: per node · gap: straggler gap · "
        f"{grid.events} events in {grid.elapsed_s:.2f}s ({rate:,.0f}/s; policies "
        f"{grid.policy_s:.2f}s)[/]"
    )
    if written:
        console.print("wrote " + ", ".join(str(p) for p in written))


def calibrate_command(
    events: Annotated[
        Path,
        typer.Argument(
            help="The study's events.parquet (runs.parquet beside it), or an lmteams .db."
        ),
    ],
    runs: Annotated[
        Path | None, typer.Option("--runs", help="runs.parquet, if not next to the events file.")
    ] = None,
    out: Annotated[Path, out_option("Where to save the calibration.")] = Path("calibration.json"),
    json_output: JsonOption = False,
) -> None:
    """Fit per-model call latencies and per-condition overheads from observed runs.

    From the study's logs: latency as a function of the tasks a call writes, tasks per call,
    how often claims are blocked, tokens per call, time per round outside the model, and per
    condition (mode, p, n) the rounds, calls and refusals per task. From an lmteams event log:
    the same from our own calls. Use the file with --latency calibrated:FILE[:MODEL].

    Example: lmteams calibrate ../shared/paper/data/events.parquet -o study.json
    """
    from lmteams.sim.calibrate import calibrate, summary
    from lmteams.sim.calibration import save_calibration

    calibration = calibrate(events, runs_path=runs)
    save_calibration(calibration, out)
    rows = summary(calibration)
    if json_output:
        conditions = [c.model_dump() for c in calibration.conditions]
        write_json({"file": str(out), "models": rows, "conditions": conditions})
        return
    console = Console()
    table = Table(box=None, header_style="bold", pad_edge=False, title="per model")
    for column in ("model", "calls", "base s", "per task s", "sigma", "tasks/call", "refused",
                   "prompt/call", "out/task", "round s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"], str(r["calls"]), f"{r['base_s']:.2f}", f"{r['per_task_s']:.2f}",
            f"{r['sigma']:.2f}", f"{r['tasks_per_call']:g}", f"{r['claim_refusal']:.0%}",
            f"{r['prompt_per_call']:.0f}", f"{r['completion_per_task']:.0f}",
            f"{r['round_overhead_s']:.2f}",
        )  # fmt: skip
    console.print(table)
    if calibration.conditions:
        cond = Table(box=None, header_style="bold", pad_edge=False, title="per condition (medians)")
        for column in ("mode", "p", "n", "runs", "wall s", "rounds", "calls/task", "refused/task"):
            cond.add_column(column, justify="left" if column == "mode" else "right")
        for c in calibration.conditions:
            cond.add_row(
                c.mode, "" if c.p is None else f"{c.p:.2f}", str(c.workers), str(c.runs),
                f"{c.wall_s:.1f}", f"{c.rounds:g}", f"{c.calls_per_task:.2f}",
                f"{c.claims_refused_per_task:.2f}",
            )  # fmt: skip
        console.print(cond)
    console.print(f"saved {out} · use --latency calibrated:{out}[:MODEL]")


def advise_command(
    project: ProjectArg,
    latency: LatencyOpt = "lognormal:10,0.5",
    price: Annotated[
        str | None,
        typer.Option(
            "--price",
            help="Prices: input=USD_PER_MTOK, output=USD_PER_MTOK, optionally node_hour=USD "
            "(e.g. 'input=3, output=15'), or one USD_PER_MTOK for every token. Default: the "
            "team file's model prices.",
        ),
    ] = None,
    tokens: TokensOpt = None,
    faults: FaultsOpt = None,
    team: TeamOpt = None,
    max_workers: Annotated[int, typer.Option("--max-workers", min=1, max=100_000)] = 8,
    topology: Annotated[
        str,
        topology_option(
            "Topologies to consider, comma-separated.",
            shown_default="preassign, steal, decentralized, lead",
        ),
    ] = "preassign,steal,decentralized,lead",
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, max=10_000)] = 10,
    harness: HarnessOpt = "lmteams",
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, max=10.0, help="Slack on the fastest makespan.")
    ] = 0.10,
    deadline: Annotated[float | None, typer.Option("--deadline", min=0.0, help="Seconds.")] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", min=0.0, help="Most cost, in price units.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Recommend a team size and topology, with expected speedup and cost, by simulation.

    Simulates every topology at n = 1..--max-workers, keeps the options that meet --deadline
    and --budget, and recommends the cheapest whose makespan is within --tolerance of the
    fastest, explaining why.

    Example: lmteams advise ../shared/paper/tasks/dataanalysis_p09.json
    --latency lognormal:12,0.5 --price input=3,output=15
    """
    from lmteams.sim.request import AdviceRequest

    request = AdviceRequest(
        project=project, workers=f"1..{max_workers}", topologies=topology, latency=latency,
        tokens=tokens, faults=faults, reps=reps, harness=harness, seed=seed, team=team,
        price=price, tolerance=tolerance, deadline_s=deadline, budget=budget,
    )  # fmt: skip
    advice: Advice = _simulated(request, quiet=json_output)
    if json_output:
        write_json(advice)
        return
    console = Console()
    pick = advice.recommended
    console.print(
        f"[bold green]recommended: {pick.topology} with {pick.workers} nodes[/] · expected "
        f"makespan {pick.makespan_s:.1f}s [{pick.makespan_low_s:.1f}, {pick.makespan_high_s:.1f}] · "
        f"speedup {pick.speedup:.2f}x · cost ${pick.cost:.4f} ({pick.tokens:,.0f} tokens)"
    )
    for line in advice.reasoning:
        console.print(f"  · {line}")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("topology", "n", "makespan s", "speedup", "tokens", "cost"):
        table.add_column(column, justify="left" if column == "topology" else "right")
    for option in sorted(advice.options, key=lambda o: (o.topology, o.workers)):
        mark = " ←" if option == pick else ""
        table.add_row(
            option.topology + mark, str(option.workers), f"{option.makespan_s:.1f}",
            f"{option.speedup:.2f}", f"{option.tokens:,.0f}", f"${option.cost:.4f}",
        )  # fmt: skip
    console.print(table)


COMMANDS = [
    ("simulate", simulate_command, 30),
    ("calibrate", calibrate_command, 31),
    ("advise", advise_command, 32),
]
