from __future__ import annotations

from lmteams.errors import ModelUnavailable
from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import scripted_team


def stubborn_then_convinced(call: ScriptedCall) -> str | BaseException:
    """n2 says 41 first and switches to 42 once it sees the others."""
    revising = "Other assistants answered" in call.prompt
    if call.node == "n2":
        return "Answer: 42" if revising else "Answer: 41"
    return "6 x 7 = 42\nAnswer: 42"


async def test_debate_revises_and_stops_on_quorum(store: EventStore) -> None:
    spec, backends = scripted_team(3, stubborn_then_convinced)
    result = await ask(
        spec, "What is 6 x 7?", store, backends=backends, consensus="debate", options={"rounds": 3}
    )
    assert result.answer == "42" and result.support == 3
    rounds = result.detail["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]  # stopped early: the quorum agreed
    assert rounds[0]["answers"]["n2"] == "41" and rounds[1]["answers"]["n2"] == "42"
    assert result.detail["stopped"] == "quorum reached"
    assert result.calls == 6
    events = store.events(result.run_id, types=["debate_round"])
    assert [e.data["agreed"] for e in events] == [False, True]


async def test_debate_without_agreement_runs_every_round(store: EventStore) -> None:
    answers = {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 3"}
    spec, backends = scripted_team(3, lambda c: answers[c.node or ""])
    result = await ask(
        spec, "q", store, backends=backends, consensus="debate", options={"rounds": 2}
    )
    assert len(result.detail["rounds"]) == 3 and result.detail["stopped"] == "last round"
    assert result.calls == 9 and result.tie


async def test_a_node_failing_in_a_round_keeps_its_answer(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        if "Other assistants" in call.prompt:
            return ModelUnavailable("gone") if call.node == "n0" else "Answer: 2"
        return {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 3"}[call.node or ""]

    spec, backends = scripted_team(3, script)
    result = await ask(
        spec, "q", store, backends=backends, consensus="debate", options={"rounds": 1}
    )
    assert result.detail["rounds"][1]["answers"]["n0"] == "1"
    assert result.answer == "2"


async def test_debate_revision_prompt_shows_the_others(store: EventStore) -> None:
    seen: list[str] = []

    def script(call: ScriptedCall) -> str:
        if "Other assistants" in call.prompt and call.node == "n0":
            seen.append(call.prompt)
            assert [m.role for m in call.messages] == ["system", "user", "assistant", "user"]
        return {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 3"}[call.node or ""]

    spec, backends = scripted_team(3, script)
    await ask(spec, "q", store, backends=backends, consensus="debate", options={"rounds": 1})
    assert "1. 2" in seen[0] and "2. 3" in seen[0] and "1. 1" not in seen[0]


async def test_moa_layers_then_aggregator(store: EventStore) -> None:
    prompts: list[str] = []

    def script(call: ScriptedCall) -> str:
        prompts.append(call.prompt)
        if "single best final answer" in call.prompt:
            return "Combining them: Answer: 42"
        if "improved answer" in call.prompt:
            return "Answer: 42"
        return {"n0": "Answer: 42", "n1": "Answer: 40", "n2": "Answer: 41"}[call.node or ""]

    spec, backends = scripted_team(3, script)
    result = await ask(spec, "q", store, backends=backends, consensus="moa", options={"layers": 2})
    assert result.answer == "42"
    assert result.calls == 3 + 3 + 1
    assert [layer["answers"] for layer in result.detail["layers"]] == [
        {"n0": "42", "n1": "40", "n2": "41"},
        {"n0": "42", "n1": "42", "n2": "42"},
    ]
    assert result.detail["aggregator"] == "n0"
    assert len(store.events(result.run_id, types=["moa_layer"])) == 2


async def test_moa_aggregator_failure_falls_back(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        if "single best final answer" in call.prompt:
            return ModelUnavailable("aggregator down")
        return "Answer: 7"

    spec, backends = scripted_team(3, script)
    result = await ask(spec, "q", store, backends=backends, consensus="moa", options={"layers": 1})
    assert result.answer == "7" and result.detail["fallback"] == "majority"
    assert result.decided_by.startswith("moa fallback") and "aggregator down" in result.decided_by
