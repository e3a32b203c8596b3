from __future__ import annotations

from lmteams.config import ModelSpec, Prices
from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask, ask_team
from lmteams.team import Team
from lmteams.testing import scripted_team
from tests.consensus.simulated import simulate


async def test_adaptive_uses_fewer_calls_than_majority_at_equal_accuracy(
    store: EventStore,
) -> None:
    world = simulate(300, [0.85, 0.8, 0.75, 0.7, 0.65], seed=5)
    spec, backends = scripted_team(5, world.script)
    right = {"majority": 0, "adaptive": 0}
    calls = {"majority": 0, "adaptive": 0}
    async with Team(spec, store, kind="sim", backends=backends) as team:
        for question, truth in zip(world.questions, world.truth, strict=True):
            for strategy in right:
                result = await ask_team(team, question, consensus=strategy)
                right[strategy] += result.answer == truth
                calls[strategy] += result.calls
    assert right["adaptive"] == right["majority"]  # same answer every time
    assert calls["majority"] == 1500
    assert calls["adaptive"] < 0.8 * calls["majority"], calls


async def test_adaptive_waves_and_stop_reason(store: EventStore) -> None:
    spec, backends = scripted_team(5, lambda c: "Answer: 3")
    result = await ask(spec, "q", store, backends=backends, consensus="adaptive")
    assert result.calls == 3 and result.answer == "3"
    assert result.detail["skipped"] == 2 and "cannot be overtaken" in result.detail["stopped"]
    assert len(store.events(result.run_id, types=["adaptive_wave"])) == 1

    answers = {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 1", "n3": "Answer: 1"}
    answers["n4"] = "Answer: 2"
    spec, backends = scripted_team(5, lambda c: answers[c.node or ""])
    split = await ask(spec, "q", store, backends=backends, consensus="adaptive")
    assert split.calls == 4 and split.answer == "1"  # 2-1 after three, 3-1 after four


async def test_adaptive_confidence_stops_sooner(store: EventStore) -> None:
    spec, backends = scripted_team(9, lambda c: "Answer: 3")
    settled = await ask(spec, "q", store, backends=backends, consensus="adaptive")
    assert settled.calls == 5
    confident = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="adaptive",
        options={"stop_confidence": 0.9},
    )
    assert confident.calls == 5  # the first wave (5 of 9) is already a majority
    spec, backends = scripted_team(9, lambda c: "Answer: 3")
    waves = await ask(
        spec, "q", store, backends=backends, consensus="adaptive", options={"wave": 2}
    )
    assert waves.calls == 5


def two_tier_team(answers: dict[str, str]):  # type: ignore[no-untyped-def]
    spec, backends = scripted_team(4, lambda c: answers[c.node or ""])
    models = {
        "cheap": ModelSpec(backend="scripted", prices=Prices(input_per_mtok=0.1)),
        "strong": ModelSpec(backend="scripted", prices=Prices(input_per_mtok=5.0)),
    }
    nodes = tuple(
        n.model_copy(update={"model": "strong" if i < 2 else "cheap"})
        for i, n in enumerate(spec.nodes)
    )
    backend = backends["scripted"]
    return spec.model_copy(update={"models": models, "nodes": nodes}), {
        "cheap": backend,
        "strong": backend,
    }


async def test_cascade_stops_at_the_cheap_tier_when_it_agrees(store: EventStore) -> None:
    spec, backends = two_tier_team(
        {"n0": "Answer: 9", "n1": "Answer: 9", "n2": "Answer: 5", "n3": "Answer: 5"}
    )
    result = await ask(spec, "q", store, backends=backends, consensus="cascade")
    assert result.answer == "5" and result.calls == 2
    assert [n.node for n in result.nodes] == ["n2", "n3"]  # the cheap model's nodes
    assert result.detail["tiers"][0]["escalate"] is False


async def test_cascade_escalates_on_disagreement(store: EventStore) -> None:
    spec, backends = two_tier_team(
        {"n0": "Answer: 9", "n1": "Answer: 9", "n2": "Answer: 5", "n3": "Answer: 6"}
    )
    result = await ask(spec, "q", store, backends=backends, consensus="cascade")
    assert result.answer == "9" and result.calls == 4
    assert [t["escalate"] for t in result.detail["tiers"]] == [True, False]
    assert result.decided_by == "cascade: tier 2 of 2 agreed"
    forced = await ask(
        spec, "q", store, backends=backends, consensus="cascade", options={"tiers": ["strong"]}
    )
    assert forced.calls == 2 and forced.answer == "9"


async def test_cascade_lone_node_escalates_unless_confirmed_or_sure(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        return "Answer: 1\nConfidence: 30%" if call.node == "n0" else "Answer: 2"

    spec, backends = scripted_team(3, script)
    models = {
        "cheap": ModelSpec(backend="scripted"),
        "strong": ModelSpec(backend="scripted", prices=Prices(output_per_mtok=1.0)),
    }
    nodes = tuple(
        n.model_copy(update={"model": "cheap" if i == 0 else "strong"})
        for i, n in enumerate(spec.nodes)
    )
    spec = spec.model_copy(update={"models": models, "nodes": nodes})
    backends = {"cheap": backends["scripted"], "strong": backends["scripted"]}
    # A lone cheap answer is confirmed by nothing: the strong tier is asked.
    unconfirmed = await ask(spec, "q", store, backends=backends, consensus="cascade")
    assert unconfirmed.answer == "2" and unconfirmed.calls == 3
    careful = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="cascade",
        options={"stop_confidence": 0.6},
    )
    assert careful.answer == "2" and careful.calls == 3


async def test_cascade_lone_answers_stand_when_confirmed_or_sure(store: EventStore) -> None:
    """Three models, one node each (cheapest first): a lone answer stands once an earlier
    node gave the same one, or once it is as sure as stop_confidence; the last tier's stands."""

    def team(replies: dict[str, str]):  # type: ignore[no-untyped-def]
        spec, backends = scripted_team(3, lambda c: replies[c.node or ""])
        models = {
            name: ModelSpec(backend="scripted", prices=Prices(input_per_mtok=price))
            for name, price in (("small", 0.1), ("medium", 1.0), ("large", 5.0))
        }
        nodes = tuple(
            n.model_copy(update={"model": m})
            for n, m in zip(spec.nodes, ("small", "medium", "large"), strict=True)
        )
        backend = backends["scripted"]
        return spec.model_copy(update={"models": models, "nodes": nodes}), dict.fromkeys(
            models, backend
        )

    spec, backends = team({"n0": "Answer: 7", "n1": "Answer: 7", "n2": "Answer: 8"})
    confirmed = await ask(spec, "q", store, backends=backends, consensus="cascade")
    assert confirmed.answer == "7" and confirmed.calls == 2
    assert confirmed.decided_by == "cascade: tier 2 of 3, its one answer confirmed"
    assert [t["escalate"] for t in confirmed.detail["tiers"]] == [True, False]

    spec, backends = team({"n0": "Answer: 7", "n1": "Answer: 6", "n2": "Answer: 8"})
    last = await ask(spec, "q", store, backends=backends, consensus="cascade")
    assert last.answer == "8" and last.calls == 3
    assert last.decided_by == "cascade: the last tier's one answer, unconfirmed (tier 3 of 3)"

    spec, backends = team(
        {"n0": "Answer: 7\nConfidence: 90%", "n1": "Answer: 6", "n2": "Answer: 8"}
    )
    sure = await ask(
        spec, "q", store, backends=backends, consensus="cascade", options={"stop_confidence": 0.8}
    )
    assert sure.answer == "7" and sure.calls == 1
