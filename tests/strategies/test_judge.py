from __future__ import annotations

import json

from lmteams.config import NodeSpec, TeamSpec
from lmteams.consensus.settings import ConsensusSpec
from lmteams.errors import ModelUnavailable
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.judge import judge_and_candidates
from lmteams.testing import event_types, scripted_team

ANSWERS = {"n1": "6 x 7 = 42. Answer: 42", "n2": "Answer: 41", "n3": "Answer: 42"}


def team_with_judge(judge_replies: list[str | BaseException]):  # type: ignore[no-untyped-def]
    """n0 is the judge (role judge); its replies come from ``judge_replies`` in order."""
    prompts: list[list[str]] = []

    def script(call: ScriptedCall) -> str | BaseException:
        if call.node == "n0":
            prompts.append([m.content for m in call.messages if m.role != "system"])
            return judge_replies.pop(0)
        return ANSWERS[call.node or ""]

    spec, backends = scripted_team(4, script)
    nodes = (spec.nodes[0].model_copy(update={"role": "judge"}), *spec.nodes[1:])
    return spec.model_copy(update={"nodes": nodes}), backends, prompts


def shown_order(prompt: str) -> list[str]:
    lines = [line for line in prompt.splitlines() if line[:2] in ("1.", "2.", "3.")]
    return [line.split(" ", 2)[1] for line in lines]


async def test_judge_picks_a_shuffled_candidate(store: EventStore) -> None:
    spec, backends, prompts = team_with_judge(['{"choice": 1, "answer": ""}'])
    result = await ask(spec, "What is 6 x 7?", store, backends=backends, consensus="judge")
    order = shown_order(prompts[0][0])
    assert sorted(order) == ["41", "42"]
    assert result.answer == order[0]
    assert result.detail["shown"] == order and result.detail["kind"] == "pick"
    assert [n.node for n in result.nodes] == ["n1", "n2", "n3"]  # a dedicated judge does not answer
    assert result.calls == 4
    assert "judge_verdict" in event_types(store, result.run_id)


async def test_shuffle_is_seeded_per_question(store: EventStore) -> None:
    orders = set()
    for seed in range(8):
        spec, backends, prompts = team_with_judge(['{"choice": 1, "answer": ""}'])
        await ask(spec, "q", store, backends=backends, consensus="judge", options={"seed": seed})
        orders.add(tuple(shown_order(prompts[0][0])))
    assert len(orders) == 2  # both orders occur: no answer is always first
    spec, backends, again = team_with_judge(['{"choice": 1, "answer": ""}'])
    await ask(spec, "q", store, backends=backends, consensus="judge", options={"seed": 3})
    spec, backends, twice = team_with_judge(['{"choice": 1, "answer": ""}'])
    await ask(spec, "q", store, backends=backends, consensus="judge", options={"seed": 3})
    assert shown_order(again[0][0]) == shown_order(twice[0][0])


async def test_invalid_verdict_is_retried_with_feedback(store: EventStore) -> None:
    spec, backends, prompts = team_with_judge(["I like 42", '{"choice": 0, "answer": "43"}'])
    result = await ask(spec, "q", store, backends=backends, consensus="judge")
    assert result.answer == "43" and result.detail["kind"] == "synthesize"
    assert result.detail["attempts"] == 2
    retry = prompts[1]
    assert retry[1] == "I like 42" and "invalid: the reply is not a JSON object" in retry[2]
    verdicts = store.events(result.run_id, types=["judge_verdict"])
    assert [e.data["valid"] for e in verdicts] == [False, True]


async def test_fallback_to_majority_is_reported(store: EventStore) -> None:
    spec, backends, _ = team_with_judge(['{"choice": 9}', '{"choice": 9, "answer": ""}'])
    result = await ask(spec, "q", store, backends=backends, consensus="judge")
    assert result.answer == "42"
    assert result.decided_by.startswith("judge fallback: majority of the candidates")
    assert "between 0 and 2" in result.decided_by
    assert result.detail["fallback"] == "majority"
    spec, backends, _ = team_with_judge([ModelUnavailable("judge down")])
    failed = await ask(spec, "q", store, backends=backends, consensus="judge")
    assert failed.answer == "42" and "judge's call failed" in failed.decided_by
    assert failed.detail["attempts"] == 1


async def test_no_candidates_means_no_answer(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda c: "")
    result = await ask(spec, "q", store, backends=backends, consensus="judge")
    assert result.answer is None and result.detail["candidates"] == 0


def test_choosing_the_judge() -> None:
    spec, _ = scripted_team(3)
    assert judge_and_candidates(spec, ConsensusSpec()) == ("n0", ["n0", "n1", "n2"])
    assert judge_and_candidates(spec, ConsensusSpec(judge="n2")) == ("n2", ["n0", "n1"])
    lone = spec.model_copy(update={"nodes": (NodeSpec(name="solo", role="judge"),)})
    assert judge_and_candidates(lone, ConsensusSpec()) == ("solo", ["solo"])


async def test_json_schema_is_sent_when_the_backend_supports_it(store: EventStore) -> None:
    from lmteams.models import scripted

    sampled: list[object] = []

    def script(call: ScriptedCall) -> str:
        if call.node == "n0" and "JSON" in call.prompt:
            sampled.append(call.sampling.json_schema)
            return json.dumps({"choice": 1, "answer": ""})
        return "Answer: 5"

    spec, backends = scripted_team(2, script)
    original = scripted.ScriptedBackend.can_json_schema
    scripted.ScriptedBackend.can_json_schema = True
    try:
        await ask(spec, "q", store, backends=backends, consensus="judge")
    finally:
        scripted.ScriptedBackend.can_json_schema = original
    assert sampled and sampled[0]["properties"]["choice"]["enum"] == [0, 1]  # type: ignore[index]


def contradicting_judge() -> tuple[TeamSpec, dict[str, ModelBackend], list[list[str]]]:
    """The judge first picks 42's position but states 41, then gives a consistent verdict."""
    prompts: list[list[str]] = []

    def script(call: ScriptedCall) -> str:
        if call.node != "n0":
            return ANSWERS[call.node or ""]
        texts = [m.content for m in call.messages if m.role != "system"]
        prompts.append(texts)
        position = shown_order(texts[0]).index("42") + 1
        if len(texts) == 1:
            return json.dumps({"choice": position, "answer": "41"})
        return json.dumps({"choice": position, "answer": "42"})

    spec, backends = scripted_team(4, script)
    nodes = (spec.nodes[0].model_copy(update={"role": "judge"}), *spec.nodes[1:])
    return spec.model_copy(update={"nodes": nodes}), backends, prompts


async def test_a_verdict_contradicting_itself_is_refused_and_asked_again(
    store: EventStore,
) -> None:
    spec, backends, prompts = contradicting_judge()
    result = await ask(spec, "q", store, backends=backends, consensus="judge")
    assert result.answer == "42" and result.detail["kind"] == "pick"
    assert result.detail["attempts"] == 2 and result.detail["contradictions"] == 1
    assert "but \"answer\" says '41'" in prompts[1][2] and "make them agree" in prompts[1][2]
    verdicts = store.events(result.run_id, types=["judge_verdict"])
    assert [e.data.get("refused") for e in verdicts] == ["contradiction", None]
    assert [e.data["valid"] for e in verdicts] == [False, True]


async def test_contradictions_are_bounded_and_can_be_read_by_choice_or_answer(
    store: EventStore,
) -> None:
    spec, backends, _ = contradicting_judge()
    bounded = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="judge",
        options={"judge_retries": 0},
    )
    assert bounded.decided_by.startswith("judge fallback: majority of the candidates")
    assert "make them agree" in bounded.decided_by and bounded.detail["attempts"] == 1
    spec, backends, _ = contradicting_judge()
    by_choice = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="judge",
        options={"judge_contradiction": "choice"},
    )
    assert by_choice.answer == "42" and by_choice.detail["attempts"] == 1
    spec, backends, _ = contradicting_judge()
    by_answer = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="judge",
        options={"judge_contradiction": "answer"},
    )
    assert by_answer.answer == "41" and by_answer.detail["kind"] == "synthesize"
    assert by_answer.detail["contradictions"] == 0
