"""Recommend a team size and topology from a simulated grid: fast enough, then cheapest.

The rule, in order: keep the options that meet the deadline and the budget (when given); find
the fastest of them; among those whose expected makespan is within ``tolerance`` of the
fastest, pick the cheapest (fewer nodes on a tie). Cost is tokens at the given prices plus,
optionally, node-hours (what a self-hosted node costs while the run lasts). Pure: a grid and
prices in, an :class:`Advice` with its reasoning out.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from lmteams.errors import ConfigError
from lmteams.sim.summary import SimCell, SimGrid

FLAG = "--price"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)
    node_hour: float = Field(0.0, ge=0, description="Per node and hour of the run.")

    def cost(self, cell: SimCell, *, lead: bool = False) -> float:
        tokens = (
            cell.prompt_tokens.mean * self.input_per_mtok
            + cell.completion_tokens.mean * self.output_per_mtok
        ) / 1e6
        nodes = cell.workers + (1 if lead else 0)
        return tokens + self.node_hour * nodes * cell.makespan_s.mean / 3600


def parse_price(text: str) -> Price:
    """``input=3,output=15[,node_hour=0.8]``: per million tokens, and per node-hour.

    A bare number (``0.002``) is one price for every token, input and output alike.
    """
    try:
        flat = float(text.strip().lstrip("$"))
    except ValueError:
        pass
    else:
        if not math.isfinite(flat) or flat < 0:
            raise ConfigError(f"{text.strip()!r}: a price is a finite number >= 0", field=FLAG)
        return Price(input_per_mtok=flat, output_per_mtok=flat)
    names = {
        "input": "input_per_mtok",
        "in": "input_per_mtok",
        "output": "output_per_mtok",
        "out": "output_per_mtok",
        "node_hour": "node_hour",
        "node-hour": "node_hour",
    }
    values: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, raw = part.partition("=")
        field = names.get(key.strip().lower())
        if not eq or field is None:
            raise ConfigError(
                f"{part!r}: expected USD_PER_MTOK or "
                "input=USD_PER_MTOK,output=USD_PER_MTOK[,node_hour=USD]",
                field=FLAG,
            )
        try:
            value = float(raw.strip().lstrip("$"))
        except ValueError:
            raise ConfigError(f"{part!r}: {raw.strip()!r} is not a number", field=FLAG) from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{part!r}: a price is a finite number >= 0", field=FLAG)
        values[field] = value
    if not values:
        raise ConfigError("empty price, e.g. --price input=3,output=15", field=FLAG)
    return Price(**values)


class Option(BaseModel):
    model_config = ConfigDict(frozen=True)

    topology: str
    workers: int
    makespan_s: float
    makespan_low_s: float
    makespan_high_s: float
    speedup: float
    amdahl: float
    dag_speedup: float
    tokens: float
    cost: float
    done: int
    reps: int


class Advice(BaseModel):
    model_config = ConfigDict(frozen=True)

    recommended: Option
    fastest: Option
    cheapest: Option
    options: list[Option]
    reasoning: list[str]


def _option(cell: SimCell, price: Price) -> Option:
    return Option(
        topology=cell.topology,
        workers=cell.workers,
        makespan_s=round(cell.makespan_s.mean, 3),
        makespan_low_s=round(cell.makespan_s.low, 3),
        makespan_high_s=round(cell.makespan_s.high, 3),
        speedup=round(cell.speedup.mean, 3),
        amdahl=cell.amdahl,
        dag_speedup=cell.dag_speedup,
        tokens=round(cell.tokens.mean, 1),
        cost=round(price.cost(cell, lead=cell.topology == "lead"), 6),
        done=cell.done,
        reps=cell.reps,
    )


def advise(
    grid: SimGrid,
    price: Price,
    *,
    tolerance: float = 0.10,
    deadline_s: float | None = None,
    budget: float | None = None,
) -> Advice:
    options = [_option(c, price) for c in grid.cells if c.done]
    if not options:
        raise ConfigError("no simulated option finished its project; see --faults", field="PROJECT")
    feasible = [
        o
        for o in options
        if (deadline_s is None or o.makespan_s <= deadline_s)
        and (budget is None or o.cost <= budget)
        and o.done == o.reps
    ]
    reasoning: list[str] = []
    if not feasible:
        feasible = options
        reasoning.append(
            "no option meets the deadline and budget in every repetition; recommending among all"
        )
    fastest = min(feasible, key=lambda o: (o.makespan_s, o.cost))
    cheapest = min(feasible, key=lambda o: (o.cost, o.makespan_s))
    near = [o for o in feasible if o.makespan_s <= fastest.makespan_s * (1 + tolerance)]
    pick = min(near, key=lambda o: (round(o.cost, 9), o.workers, o.makespan_s))
    reasoning.append(
        f"fastest: {fastest.topology} with {fastest.workers} nodes, {fastest.makespan_s:.1f}s "
        f"(speedup {fastest.speedup:.2f}x; Amdahl {fastest.amdahl:.2f}x, DAG bound "
        f"{fastest.dag_speedup:.2f}x) at ${fastest.cost:.4f}"
    )
    if pick != fastest:
        reasoning.append(
            f"{pick.topology} with {pick.workers} nodes is within {tolerance:.0%} of it "
            f"({pick.makespan_s:.1f}s) for ${pick.cost:.4f} "
            f"({(1 - pick.cost / fastest.cost) if fastest.cost else 0:.0%} less)"
        )
    reasoning.extend(_diminishing(options, pick))
    reasoning.extend(_topologies(options, pick))
    reasoning.extend(_shape(grid, pick))
    return Advice(
        recommended=pick, fastest=fastest, cheapest=cheapest, options=options, reasoning=reasoning
    )


def _diminishing(options: list[Option], pick: Option) -> list[str]:
    same = sorted((o for o in options if o.topology == pick.topology), key=lambda o: o.workers)
    larger = [o for o in same if o.workers > pick.workers]
    if not larger:
        return []
    gain = pick.makespan_s / larger[-1].makespan_s - 1 if larger[-1].makespan_s else 0.0
    extra = larger[-1].cost - pick.cost
    return [
        f"going from {pick.workers} to {larger[-1].workers} nodes under {pick.topology} would "
        f"change the makespan by {-gain:+.0%} and the cost by ${extra:+.4f}"
    ]


def _topologies(options: list[Option], pick: Option) -> list[str]:
    lines = []
    for other in sorted({o.topology for o in options} - {pick.topology}):
        match = next(
            (o for o in options if o.topology == other and o.workers == pick.workers), None
        )
        if match is None or not pick.makespan_s or not pick.tokens:
            continue
        slower = match.makespan_s / pick.makespan_s - 1
        tokens = match.tokens / pick.tokens
        why = ""
        if other == "decentralized":
            why = " (every task costs a claim call first, and simultaneous claims collide)"
        elif other == "lead":
            why = " (assignments wait for the lead's calls, one at a time)"
        elif other == "preassign":
            why = " (fixed queues: an idle node cannot take another's ready work)"
        lines.append(
            f"{other} at {pick.workers} nodes: {slower:+.0%} makespan, {tokens:.2f}x tokens{why}"
        )
    return lines


def _shape(grid: SimGrid, pick: Option) -> list[str]:
    limit = grid.tasks / max(1, grid.critical_path)
    text = (
        f"the graph has N = {grid.tasks} tasks and a critical path of C = {grid.critical_path} "
        f"(p = {grid.p:.2f}): with equal tasks no team beats {limit:.2f}x (uneven task "
        "times move that a little either way)"
    )
    if pick.dag_speedup >= limit - 1e-9:
        text += f"; at {pick.workers} nodes the critical path already bounds the run"
    return [text]
