from __future__ import annotations

import math

import pytest

from lmteams.config import NodeSpec
from lmteams.errors import ConfigError, ModelUnavailable
from lmteams.models.scripted import ScriptedCall, ScriptedReply
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import scripted_team


def by_node(answers: dict[str, str | ScriptedReply]):  # type: ignore[no-untyped-def]
    def script(call: ScriptedCall) -> str | ScriptedReply | BaseException:
        value = answers[call.node or ""]
        return ModelUnavailable("down") if value == "FAIL" else value

    return script


async def test_weighted_uses_team_file_weights(store: EventStore) -> None:
    spec, backends = scripted_team(
        3, by_node({"n0": "Answer: 7", "n1": "Answer: 8", "n2": "Answer: 8"})
    )
    nodes = (spec.nodes[0].model_copy(update={"weight": 3.0}), *spec.nodes[1:])
    spec = spec.model_copy(update={"nodes": nodes})
    assert (await ask(spec, "q", store, backends=backends)).answer == "8"
    result = await ask(spec, "q", store, backends=backends, consensus="weighted")
    assert result.answer == "7" and result.support == 3.0 and result.valid_votes == 5.0
    assert result.split == {"7": 3.0, "8": 2.0}
    assert result.detail["weights"]["n0"] == 3.0


async def test_confidence_from_logprobs_outweighs_more_votes(store: EventStore) -> None:
    sure = ScriptedReply("Answer: 7", token_logprobs=(math.log(0.99),) * 3)
    unsure = ScriptedReply("Answer: 8", token_logprobs=(math.log(0.3),) * 3)
    seen: list[bool] = []

    def script(call: ScriptedCall) -> ScriptedReply:
        seen.append(call.sampling.logprobs)
        return sure if call.node == "n0" else unsure

    spec, backends = scripted_team(3, script)
    result = await ask(spec, "q", store, backends=backends, consensus="confidence")
    assert result.answer == "7"
    assert result.detail["source"] == {"n0": "logprobs", "n1": "logprobs", "n2": "logprobs"}
    assert result.detail["confidence"]["n0"] == pytest.approx(0.99)
    assert all(seen)  # log-probabilities were asked for


async def test_confidence_stated_when_no_logprobs(store: EventStore) -> None:
    spec, backends = scripted_team(
        3,
        by_node(
            {
                "n0": "Answer: 7\nConfidence: 95%",
                "n1": "Answer: 8\nConfidence: 30%",
                "n2": "Answer: 8",  # states nothing: counts as 0.5
            }
        ),
    )
    result = await ask(spec, "q", store, backends=backends, consensus="confidence")
    assert result.answer == "7"
    assert result.detail["source"] == {"n0": "stated", "n1": "stated", "n2": "unknown"}
    assert "confidence-weighted" in result.decided_by


async def test_quorum_no_consensus_shows_the_split(store: EventStore) -> None:
    spec, backends = scripted_team(
        4, by_node({"n0": "Answer: 1", "n1": "Answer: 1", "n2": "Answer: 2", "n3": "FAIL"})
    )
    result = await ask(spec, "q", store, backends=backends, consensus="quorum")
    assert result.answer is None and result.answer_key is None
    assert result.decided_by.startswith("no consensus: an answer needs 3 of 4")
    assert result.split == {"1": 2.0, "2": 1.0}
    assert result.detail == {"n": 4, "f": 1, "needed": 3, "no_consensus": True}
    assert result.calls == 4


async def test_quorum_rejects_too_few_nodes_before_calling_any(store: EventStore) -> None:
    spec, backends = scripted_team(4, lambda c: "Answer: 1")
    with pytest.raises(ConfigError, match=r"n >= 3f\+1 = 7"):
        await ask(spec, "q", store, backends=backends, consensus="quorum", options={"faults": 2})
    assert backends["scripted"].calls == 0  # type: ignore[attr-defined]


async def test_single_and_greedy_baselines(store: EventStore) -> None:
    temperatures: list[float] = []

    def script(call: ScriptedCall) -> str:
        temperatures.append(call.sampling.temperature)
        return {"n0": "Answer: alpha", "n1": "Answer: beta", "n2": "Answer: gamma"}[call.node or ""]

    spec, backends = scripted_team(3, script, temperature=0.9)
    greedy = await ask(spec, "q", store, backends=backends, consensus="greedy")
    assert greedy.answer == "alpha" and greedy.calls == 1 and temperatures == [0.0]
    single = await ask(
        spec, "q", store, backends=backends, consensus="single", options={"node": "n2"}
    )
    assert single.answer == "gamma" and temperatures[-1] == 0.9
    assert single.decided_by == "one node (sampled)"
    with pytest.raises(ConfigError, match="--node: unknown node 'n9'"):
        await ask(spec, "q", store, backends=backends, consensus="single", options={"node": "n9"})


async def test_plurality_and_ties(store: EventStore) -> None:
    spec, backends = scripted_team(
        4, by_node({"n0": "Answer: a", "n1": "Answer: b", "n2": "", "n3": "Answer: b"})
    )
    result = await ask(spec, "q", store, backends=backends, consensus="plurality")
    assert result.answer == "b" and result.valid_votes == 3
    spec2, backends2 = scripted_team(2, by_node({"n0": "Answer: a", "n1": "Answer: b"}))
    tie = await ask(spec2, "q", store, backends=backends2, consensus="plurality")
    assert tie.tie and tie.answer == "a" and sorted(tie.tied) == ["a", "b"]


def test_node_spec_weight_is_validated() -> None:
    with pytest.raises(ValueError):
        NodeSpec(name="x", weight=0)


def test_a_rerouted_call_does_not_vote_twice_in_a_quorum() -> None:
    from lmteams.strategies.result import NodeAnswer
    from lmteams.strategies.voting import independent

    def answer(node: str, served_by: str | None = None) -> NodeAnswer:
        return NodeAnswer(node, "r", "m", "done", "1", "1", "Answer: 1", served_by=served_by)

    answers = [answer("n0"), answer("n1", served_by="n0"), answer("n2"), answer("n3", "n9")]
    kept = independent(answers)
    assert [a.node for a in kept] == ["n0", "n2", "n3"]  # n1's reply came from n0
    failed = NodeAnswer("n4", "r", "m", "failed", error="down")
    assert independent([failed]) == []
