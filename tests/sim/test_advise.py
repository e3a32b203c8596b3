from __future__ import annotations

import pytest

from lmteams.errors import ConfigError
from lmteams.scheduling.graph import TaskGraph
from lmteams.sim.advise import Price, advise, parse_price
from lmteams.sim.latency import parse_latency
from lmteams.sim.setup import SimInputs, SimSettings
from lmteams.sim.summary import SimGrid, run_grid


def grid() -> SimGrid:
    # 8 independent tasks plus a chain of 4: no team beats 12 / 4 = 3x
    tasks = [(f"i{i}", []) for i in range(8)] + [
        (f"c{i}", [f"c{i - 1}"] if i else []) for i in range(4)
    ]
    return run_grid(
        SimInputs(TaskGraph.build(tasks), parse_latency("constant:10")),
        SimSettings(),
        workers=range(1, 7),
        topologies=["preassign", "steal", "decentralized"],
        reps=2,
        project="test",
        latency="constant:10",
    )


def test_parse_price() -> None:
    assert parse_price("input=3,output=15") == Price(input_per_mtok=3, output_per_mtok=15)
    assert parse_price("in=$1, out=2, node_hour=0.5").node_hour == 0.5
    # one number: the same price for input and output tokens (the README's example)
    assert parse_price("0.002") == Price(input_per_mtok=0.002, output_per_mtok=0.002)
    with pytest.raises(ConfigError, match="finite number >= 0"):
        parse_price("-1")
    for bad, message in [("input", "expected"), ("input=x", "not a number"), ("", "empty price"),
                         ("input=-1", "finite number >= 0"), ("input=nan", "finite number >= 0"), ("gpu=3", "expected")]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            parse_price(bad)


def test_recommends_the_cheapest_option_near_the_fastest() -> None:
    advice = advise(
        grid(), Price(input_per_mtok=3, output_per_mtok=15, node_hour=10), tolerance=0.1
    )
    pick, fastest = advice.recommended, advice.fastest
    assert pick.makespan_s <= fastest.makespan_s * 1.1
    near = [o for o in advice.options if o.makespan_s <= fastest.makespan_s * 1.1]
    assert pick.cost == min(o.cost for o in near)
    assert pick.topology != "decentralized"  # claims cost calls and time
    text = " ".join(advice.reasoning)
    assert "critical path" in text and "decentralized" in text and "fastest" in text


def test_node_hours_push_toward_smaller_teams() -> None:
    tokens_only = advise(grid(), Price(input_per_mtok=3, output_per_mtok=15), tolerance=0.5)
    hourly = advise(grid(), Price(node_hour=1000), tolerance=0.5)
    assert hourly.recommended.workers <= tokens_only.recommended.workers


def test_deadline_and_budget() -> None:
    g = grid()
    price = Price(input_per_mtok=3, output_per_mtok=15)
    fast = advise(g, price, deadline_s=45)
    assert fast.recommended.makespan_s <= 45
    impossible = advise(g, price, deadline_s=1)
    assert "no option meets" in impossible.reasoning[0]
