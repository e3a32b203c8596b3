from __future__ import annotations

from lmteams.consensus.meta import fit_logistic
from lmteams.state.reliability import ReliabilityBook
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask, ask_team
from lmteams.team import Team
from lmteams.testing import scripted_team
from tests.consensus.simulated import simulate

ACCURACIES = [0.9, 0.85, 0.4, 0.4, 0.4]


async def test_learned_online_beats_majority_with_a_correlated_bloc(store: EventStore) -> None:
    """No labels: reliability is re-estimated from the history after every question."""
    world = simulate(500, ACCURACIES, bloc=(2, 3, 4), p_bloc=0.8, seed=11)
    spec, backends = scripted_team(5, world.script)
    learned_right = majority_right = 0
    async with Team(spec, store, kind="sim", backends=backends) as team:
        for index, (question, truth) in enumerate(zip(world.questions, world.truth, strict=True)):
            result = await ask_team(team, question, consensus="learned")
            if index < 100:  # warm-up: the history is still short
                continue
            learned_right += result.answer == truth
            votes = [n.answer for n in result.nodes]
            top = max(votes, key=lambda a: (votes.count(a), -votes.index(a)))
            majority_right += top == truth
    assert learned_right >= majority_right + 0.04 * 400, (learned_right, majority_right)
    estimates = ReliabilityBook(store, spec.name).estimates()
    assert estimates["n0"]["accuracy"] > 0.75 > 0.55 > estimates["n2"]["accuracy"]
    assert estimates["n0"]["items"] == 500 and estimates["n0"]["labeled"] == 0


async def test_learned_reports_its_model_and_history(store: EventStore) -> None:
    answers = {"n0": "Answer: 1", "n1": "Answer: 1", "n2": "Answer: 2"}
    spec, backends = scripted_team(3, lambda c: answers[c.node or ""])
    first = await ask(spec, "q1", store, backends=backends, consensus="learned")
    assert first.answer == "1" and first.detail["method"] == "dawid-skene"
    assert first.detail["history"] == 1 and set(first.detail["reliability"]) == {"n0", "n1", "n2"}
    assert 0.0 < first.support <= 1.0 and first.valid_votes == 1.0
    again = await ask(spec, "q1", store, backends=backends, consensus="learned")
    assert again.detail["history"] == 1  # the same question updates its row
    book = ReliabilityBook(store, spec.name)
    book.label("q1", "2")
    labeled = await ask(spec, "q2", store, backends=backends, consensus="learned")
    assert labeled.detail["labeled"] == 1 and labeled.detail["history"] == 2
    assert labeled.detail["reliability"]["n2"] > labeled.detail["reliability"]["n0"]


async def test_a_saved_meta_model_is_used(store: EventStore) -> None:
    answers = {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 2"}
    spec, backends = scripted_team(3, lambda c: answers[c.node or ""])
    # A model that prefers the minority (low vote share) answer: proves the model decides.
    model = fit_logistic(
        [[0.9, 0.9, 0.5, 0.5, 0.0, 2.0], [0.1, 0.1, 0.5, 0.5, 0.0, 2.0]] * 5,
        [0, 1] * 5,
    )
    ReliabilityBook(store, spec.name).save_meta(model, {"questions": 10})
    result = await ask(spec, "q", store, backends=backends, consensus="learned")
    assert result.detail["method"] == "meta-model" and result.decided_by == "meta-model"
    assert result.answer == "1"


async def test_meta_model_trained_with_judge_picks_runs_the_judge(store: EventStore) -> None:
    calls: list[str] = []

    def script(call):  # type: ignore[no-untyped-def]
        calls.append(call.node)
        if "JSON" in call.prompt:
            return '{"choice": 1, "answer": ""}'
        return {"n0": "Answer: 1", "n1": "Answer: 2", "n2": "Answer: 2"}[call.node]

    spec, backends = scripted_team(3, script)
    model = fit_logistic(
        [[0.5, 0.5, 0.5, 0.5, 1.0, 2.0], [0.5, 0.5, 0.5, 0.5, 0.0, 2.0]] * 5,
        [1, 0] * 5,
        uses_judge=True,
    )
    ReliabilityBook(store, spec.name).save_meta(model, {})
    result = await ask(spec, "q", store, backends=backends, consensus="learned")
    assert len(calls) == 4 and result.detail["judge_pick"] in ("1", "2")
    assert result.answer_key == result.detail["judge_pick"]


async def test_all_empty_answers(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda c: "")
    result = await ask(spec, "q", store, backends=backends, consensus="learned")
    assert result.answer is None and result.detail["history"] == 0
