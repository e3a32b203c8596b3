from __future__ import annotations

from lmteams.faults.config import HedgeConfig
from lmteams.faults.detector import LatencyHistory, NodeState
from lmteams.faults.hedge import hedge_delay_s, loser_usage
from lmteams.faults.reroute import Candidate, choose
from lmteams.messages import Usage

H, S, D = NodeState.HEALTHY, NodeState.SUSPECT, NodeState.DEAD


def test_same_role_healthy_first_then_other_roles_then_suspects() -> None:
    nodes = [
        Candidate("a", "coder", H),
        Candidate("b", "coder", S),
        Candidate("c", "writer", H),
        Candidate("d", "coder", H, in_flight=3),
    ]
    assert choose(nodes, role="coder", exclude=["a"]) == "d"
    assert choose(nodes, role="coder", exclude=["a", "d"]) == "c"
    assert choose(nodes, role="coder", exclude=["a", "d", "c"]) == "b"
    assert choose(nodes, role="coder", exclude=["a", "d"], same_role_only=True) == "b"


def test_dead_nodes_and_open_endpoints_never_take_work() -> None:
    nodes = [Candidate("a", "r", D), Candidate("b", "r", H, open_endpoint=True)]
    assert choose(nodes, role="r") is None


def test_ties_go_to_the_least_loaded_then_fastest_then_team_order() -> None:
    nodes = [
        Candidate("a", "r", H, in_flight=1, latency_s=1.0),
        Candidate("b", "r", H, in_flight=0, latency_s=5.0),
        Candidate("c", "r", H, in_flight=0, latency_s=2.0),
        Candidate("d", "r", H, in_flight=0, latency_s=2.0),
    ]
    assert choose(nodes, role="r") == "c"


def history(values: list[float]) -> LatencyHistory:
    out = LatencyHistory()
    for value in values:
        out.add(value)
    return out


def test_hedge_threshold_uses_the_lower_of_own_and_group_percentiles() -> None:
    config = HedgeConfig(enabled=True, percentile=95, factor=1.0, min_samples=3)
    slow_node = history([10.0] * 5)
    group = history([1.0] * 20)
    assert hedge_delay_s(slow_node, group, config) == 1.0  # compared with its peers
    assert hedge_delay_s(history([1.0]), history([2.0] * 3), config) == 2.0
    assert hedge_delay_s(history([]), history([1.0, 2.0]), config) is None  # too little data
    assert hedge_delay_s(slow_node, group, config.model_copy(update={"enabled": False})) is None
    floor = config.model_copy(update={"min_delay_s": 5.0})
    assert hedge_delay_s(slow_node, group, floor) == 5.0


def test_loser_tokens_count_its_prompt_and_its_share_of_the_work() -> None:
    assert loser_usage(
        prompt_tokens=10, winner_completion_tokens=100, loser_elapsed_s=1, winner_latency_s=4
    ) == Usage(10, 25)
    assert loser_usage(
        prompt_tokens=10, winner_completion_tokens=100, loser_elapsed_s=9, winner_latency_s=4
    ) == Usage(10, 100)
    assert loser_usage(
        prompt_tokens=10, winner_completion_tokens=100, loser_elapsed_s=1, winner_latency_s=0
    ) == Usage(10, 100)
