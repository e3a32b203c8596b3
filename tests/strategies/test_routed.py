"""The routed strategy with scripted specialists: learning per-kind reliability from labels,
routing to the best node of a kind, escalating on disagreement."""

from __future__ import annotations

import re

from lmteams.config import ModelSpec, NodeSpec, TeamSpec
from lmteams.consensus.answers import extract_auto
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedCall
from lmteams.state.reliability import ReliabilityBook, question_id
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask, ask_team
from lmteams.strategies.result import AskResult
from lmteams.strategies.routed import node_costs
from lmteams.team import Team
from lmteams.testing import scripted_team

CAPITALS = {
    "France": "Paris",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Peru": "Lima",
    "Japan": "Tokyo",
    "Chile": "Santiago",
}


def truth(question: str) -> str:
    sum_ = re.match(r"What is (\d+) \+ (\d+)\?", question)
    if sum_:
        return str(int(sum_.group(1)) + int(sum_.group(2)))
    return CAPITALS[question.removeprefix("What is the capital of ").rstrip("?")]


def specialists() -> tuple[TeamSpec, dict[str, ModelBackend], list[ScriptedCall]]:
    """n0, n1: right on capitals, one off on sums (the same wrong sum); n2: the reverse."""
    calls: list[ScriptedCall] = []

    def script(call: ScriptedCall) -> str:
        calls.append(call)
        right = truth(call.prompt)
        arithmetic = right.isdigit()
        if (call.node == "n2") == arithmetic:
            return f"Answer: {right}"
        return f"Answer: {int(right) + 1}" if arithmetic else "Answer: London"

    spec, backends = scripted_team(3, script)
    return spec, backends, calls


def sums(count: int, start: int = 0) -> list[str]:
    return [f"What is {start + i} + {2 * i + 3}?" for i in range(count)]


def capitals() -> list[str]:
    return [f"What is the capital of {c}?" for c in CAPITALS]


async def train(store: EventStore, spec: TeamSpec, backends: dict[str, ModelBackend]) -> None:
    """Questions answered by routed, each labeled afterwards (as `lmteams eval` does)."""
    book = ReliabilityBook(store, spec.name)
    async with Team(spec, store, kind="test", backends=backends) as team:
        for question in sums(5) + capitals()[:5]:
            result = await ask_team(team, question, consensus="routed")
            assert result.detail["explored"] and result.calls == 3
            book.label(question, extract_auto(f"Answer: {truth(question)}").key)


async def test_cold_start_asks_every_node_and_records_the_kind(store: EventStore) -> None:
    spec, backends, _ = specialists()
    result = await ask(spec, "What is 2 + 3?", store, backends=backends, consensus="routed")
    assert result.detail["kind"] == "arithmetic" and result.detail["explored"]
    assert result.calls == 3 and result.detail["skipped"] == 0
    assert "exploring: n0, n1, n2 not yet known on arithmetic" in result.decided_by
    rows = store.query("SELECT question_id, kind FROM question_kinds")
    assert rows == [(question_id("What is 2 + 3?"), "arithmetic")]


async def test_learned_specialists_answer_their_kind(store: EventStore) -> None:
    spec, backends, calls = specialists()
    await train(store, spec, backends)
    table = ReliabilityBook(store, spec.name).kind_table()
    assert table.counts[("n2", "arithmetic")] == (5, 5)
    assert table.counts[("n0", "arithmetic")] == (0, 5)
    assert table.counts[("n1", "knowledge")] == (5, 5)

    calls.clear()
    asked = await ask(spec, "What is 40 + 2?", store, backends=backends, consensus="routed")
    assert asked.answer == "42" and not asked.detail["explored"]
    assert asked.detail["order"][0] == "n2"
    # n2 and n0 disagree, but n0 (and n1, not asked) weigh so little on sums that n2 stands
    assert asked.calls == 2 and asked.detail["stopped"] == "the leader cannot be overtaken"
    assert asked.split["42"] > 10 * asked.split["43"]
    assert [c.node for c in calls] == ["n2", "n0"]

    capital = await ask(
        spec, "What is the capital of Chile?", store, backends=backends, consensus="routed"
    )
    assert capital.answer == "Santiago" and capital.calls == 2  # n0 and n1 agree: n2 never asked
    assert capital.detail["skipped"] == 1 and capital.detail["stopped"] == "the answers agree"
    assert {n.node for n in capital.nodes} == {"n0", "n1"}
    waves = store.events(capital.run_id, types=["routed_wave"])
    assert len(waves) == 1 and waves[0].data["kind"] == "knowledge"


async def test_route_width_one_trusts_the_specialist_alone(store: EventStore) -> None:
    spec, backends, _ = specialists()
    await train(store, spec, backends)
    result = await ask(
        spec,
        "What is 7 + 8?",
        store,
        backends=backends,
        consensus="routed",
        options={"route_width": 1},
    )
    assert result.answer == "15" and result.calls == 1 and result.nodes[0].node == "n2"


async def test_min_labels_decides_when_routing_starts(store: EventStore) -> None:
    spec, backends, _ = specialists()
    unlearned = await ask(
        spec,
        "What is 1 + 1?",
        store,
        backends=backends,
        consensus="routed",
        options={"route_min_labels": 0},
    )
    assert not unlearned.detail["explored"] and unlearned.detail["order"] == ["n0", "n1", "n2"]
    assert unlearned.calls == 2 and unlearned.answer == "3"  # n0 and n1 agree, both wrong
    spec, backends, _ = specialists()
    await train(store, spec, backends)
    strict: AskResult = await ask(
        spec,
        "What is 1 + 1?",
        store,
        backends=backends,
        consensus="routed",
        options={"route_min_labels": 6},
    )
    assert strict.detail["explored"] and strict.calls == 3  # five labels are not enough


def test_costs_read_prices_and_model_sizes() -> None:
    spec = TeamSpec(
        models={
            "tiny-135m": ModelSpec(backend="scripted"),
            "big": ModelSpec(backend="scripted", path="/m/qwen2.5-coder-1.5b.gguf"),
            "paid": ModelSpec(backend="scripted", prices={"input_per_mtok": 1.0}),
        },
        nodes=(
            NodeSpec(name="a", model="big"),
            NodeSpec(name="b", model="tiny-135m"),
            NodeSpec(name="c", model="paid"),
        ),
    )
    costs = node_costs(spec)
    assert costs["a"] == (0.0, 1.5e9) and costs["b"] == (0.0, 135e6)
    assert costs["c"][0] == 1.0 and costs["c"][1] == float("inf")


async def test_disagreement_between_equals_escalates(store: EventStore) -> None:
    split = {"n0": "Answer: 101", "n1": "Answer: 102", "n2": "Answer: 101"}

    def script(call: ScriptedCall) -> str:
        if call.prompt == "What is 100 + 1?":
            return split[call.node or ""]
        return f"Answer: {truth(call.prompt)}"  # every node right while learning

    spec, backends = scripted_team(3, script)
    await train(store, spec, backends)
    result = await ask(spec, "What is 100 + 1?", store, backends=backends, consensus="routed")
    assert result.answer == "101" and result.calls == 3
    assert [w["asked"] for w in result.detail["waves"]] == [["n0", "n1"], ["n2"]]
    assert result.detail["stopped"] == "every node answered"
    events = store.events(result.run_id, types=["routed_wave"])
    assert [e.data["stop"] for e in events] == [False, True]
