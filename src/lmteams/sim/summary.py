"""Many simulated runs: a grid of team sizes and topologies, repeated, with confidence intervals.

A run's speedup is the makespan of the n = 1 run with the same seed and topology divided by its
own: the same seed gives every task the same draws at every team size (common random numbers),
so the comparison is like for like and a team of n never shows more than n times. (``lmteams
sweep`` and the study divide by the mean n = 1 makespan instead, as real runs cannot share
draws; ``bench/paper.py`` does that too.) n = 1 is always simulated. Intervals are 95%
t-intervals of the mean over repetitions (a rep is a different seed: other latency draws,
another observed agent replayed under the rounds harness). A team size that cannot run the
project (no node with a role a task needs) is listed in ``infeasible`` instead.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmteams.analysis.metrics import RunMetrics, with_baseline
from lmteams.errors import ConfigError
from lmteams.sim.engine import simulate
from lmteams.sim.setup import SimInputs, SimResult, SimSettings, SimTeam

# two-sided 97.5% quantiles of Student's t, by degrees of freedom
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip
SPANS_LIMIT = 5000  # tasks: larger runs keep no per-task spans (no Gantt chart)


class Estimate(BaseModel):
    """Mean with a 95% confidence interval, and the median, over repetitions (NaN: none)."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    mean: float
    low: float
    high: float
    median: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Estimate:
        if not values:
            return cls(mean=math.nan, low=math.nan, high=math.nan, median=math.nan)
        mean = statistics.fmean(values)
        if len(values) < 2:
            return cls(mean=mean, low=mean, high=mean, median=mean)
        df = len(values) - 1
        t = _T975[df - 1] if df <= len(_T975) else 1.96
        half = t * statistics.stdev(values) / math.sqrt(len(values))
        return cls(
            mean=round(mean, 6),
            low=round(mean - half, 6),
            high=round(mean + half, 6),
            median=round(statistics.median(values), 6),
        )

    def pm(self, digits: int = 2) -> str:
        """``mean±half-width`` of the 95% interval (compact, for tables)."""
        if math.isnan(self.mean):
            return "-"
        half = (self.high - self.low) / 2
        return f"{self.mean:.{digits}f}" + (f"±{half:.{digits}f}" if half > 0 else "")

    def text(self, digits: int = 2) -> str:
        if self.low == self.high:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


class SimCell(BaseModel):
    """One (topology, n) of a simulated grid."""

    model_config = ConfigDict(frozen=True)

    topology: str
    workers: int
    reps: int
    done: int
    makespan_s: Estimate
    speedup: Estimate
    efficiency: Estimate
    bound_ratio: Estimate  # DAG lower bound (this run's task times) / makespan
    amdahl: float
    dag_speedup: float  # N / max(C, ceil(N/n)): the best any schedule of unit tasks can do
    tokens: Estimate
    prompt_tokens: Estimate
    completion_tokens: Estimate
    token_ratio: Estimate
    messages: Estimate
    calls: Estimate
    idle_s: Estimate  # mean idle seconds per worker
    straggler_gap_s: Estimate
    claims_refused: Estimate
    rounds: Estimate


class SimGrid(BaseModel):
    """What `lmteams simulate` produces (and `lmteams report` reads back)."""

    model_config = ConfigDict(frozen=True)

    kind: str = "simulation"
    project: str
    tasks: int
    critical_path: int
    p: float
    harness: str
    latency: str
    faults: str | None = None
    cells: list[SimCell]
    examples: dict[str, RunMetrics]  # "topology/n" -> one run, for Gantt charts
    infeasible: dict[str, str] = {}  # "topology/n" -> why that team cannot run the project
    events: int
    elapsed_s: float
    policy_s: float

    def medians(self) -> list[dict[str, Any]]:
        """Rows for :func:`lmteams.analysis.plots.speedup_plot` and ``tokens_plot``."""
        return [
            {
                "topology": c.topology,
                "workers": c.workers,
                "speedup": c.speedup.median,
                "amdahl": c.amdahl,
                "token_ratio": c.token_ratio.median,
                "makespan_s": c.makespan_s.median,
                "done": c.done,
                "runs": c.reps,
            }
            for c in self.cells
        ]


TeamFactory = Callable[[str, int], SimTeam]
Progress = Callable[[str, int, int, SimResult], None]


def run_grid(
    inputs: SimInputs,
    base: SimSettings,
    *,
    workers: Sequence[int],
    topologies: Sequence[str],
    reps: int,
    project: str,
    latency: str,
    faults: str | None = None,
    team: TeamFactory | None = None,
    eligibility: Callable[[SimTeam], Mapping[str, Sequence[str]]] | None = None,
    on_run: Progress | None = None,
) -> SimGrid:
    graph = inputs.graph
    counts = sorted(set(workers) | {1})
    keep = graph.n <= SPANS_LIMIT
    results: dict[tuple[str, int], list[SimResult]] = {}
    examples: dict[str, RunMetrics] = {}
    infeasible: dict[str, str] = {}
    events = 0
    elapsed = policy = 0.0
    for topology in topologies:
        for n in counts:
            runs = results[(topology, n)] = []
            for rep in range(reps):
                settings = base.model_copy(
                    update={
                        "topology": topology,
                        "workers": n,
                        "seed": base.seed + rep,
                        "keep_spans": keep and rep == 0,
                    }
                )
                members = team(topology, n) if team else None
                cell_inputs = inputs
                if eligibility is not None and members is not None:
                    try:
                        cell_inputs = replace(inputs, eligible=eligibility(members))
                    except ConfigError as exc:
                        infeasible[f"{topology}/{n}"] = exc.problem
                        break
                result = simulate(
                    settings, cell_inputs, members, run_id=f"sim-{topology}-n{n}-r{rep}"
                )
                runs.append(result)
                events += result.events
                elapsed += result.elapsed_s
                policy += result.policy_s
                if rep == 0:
                    examples[f"{topology}/{n}"] = result.metrics
                if on_run is not None:
                    on_run(topology, n, rep, result)
    cells = [
        _cell(topology, n, results[(topology, n)], results[(topology, 1)], graph.n, graph.c)
        for topology in topologies
        for n in counts
        if results[(topology, n)]
    ]
    if not cells:
        raise ConfigError(
            "no team size can run this project: " + "; ".join(sorted(set(infeasible.values()))),
            field="--workers",
        )
    return SimGrid(
        project=project,
        tasks=graph.n,
        critical_path=graph.c,
        p=round(graph.p, 6),
        harness=base.harness,
        latency=latency,
        faults=faults,
        cells=cells,
        examples=examples,
        events=events,
        elapsed_s=round(elapsed, 3),
        policy_s=round(policy, 3),
        infeasible=infeasible,
    )


def _cell(
    topology: str,
    n: int,
    runs: list[SimResult],
    baseline: list[SimResult],
    tasks: int,
    critical: int,
) -> SimCell:
    done = [r for r in runs if r.status == "done"]
    usable = done or runs
    # pair each rep with the n = 1 rep of the same seed (same task draws); the mean n = 1
    # makespan stands in for a baseline rep that did not finish
    finished = [r.metrics.makespan_s for r in baseline if r.status == "done"]
    fallback = statistics.fmean(finished) if finished else math.nan
    metrics = []
    ratios = []
    for result in usable:
        rep = runs.index(result)
        base = baseline[rep] if rep < len(baseline) else None
        base_makespan = (
            base.metrics.makespan_s if base is not None and base.status == "done" else fallback
        )
        if math.isnan(base_makespan):
            metrics.append(result.metrics)
        else:
            metrics.append(with_baseline(result.metrics, base_makespan))
        if base is not None and base.metrics.total_tokens:
            ratios.append(result.metrics.total_tokens / base.metrics.total_tokens)
    first = usable[0].metrics
    return SimCell(
        topology=topology,
        workers=n,
        reps=len(runs),
        done=len(done),
        makespan_s=Estimate.of([m.makespan_s for m in metrics]),
        speedup=Estimate.of([m.speedup for m in metrics if m.speedup is not None]),
        efficiency=Estimate.of([m.efficiency for m in metrics if m.efficiency is not None]),
        bound_ratio=Estimate.of([m.bound_ratio for m in metrics if m.bound_ratio is not None]),
        amdahl=round(first.amdahl_speedup or 1.0, 4),
        dag_speedup=round(tasks / max(critical, math.ceil(tasks / n)), 4),
        tokens=Estimate.of([float(m.total_tokens) for m in metrics]),
        prompt_tokens=Estimate.of([float(m.prompt_tokens) for m in metrics]),
        completion_tokens=Estimate.of([float(m.completion_tokens) for m in metrics]),
        token_ratio=Estimate.of(ratios),
        messages=Estimate.of([float(m.messages) for m in metrics]),
        calls=Estimate.of([float(m.calls) for m in metrics]),
        idle_s=Estimate.of(
            [statistics.fmean(x.idle_s for x in m.nodes) if m.nodes else 0.0 for m in metrics]
        ),
        straggler_gap_s=Estimate.of([m.straggler_gap_s for m in metrics]),
        claims_refused=Estimate.of([float(m.claims_refused) for m in metrics]),
        rounds=Estimate.of([float(m.rounds) for m in metrics]),
    )
