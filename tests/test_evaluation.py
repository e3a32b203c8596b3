from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.consensus.datasets import Item
from lmteams.errors import ConfigError
from lmteams.evaluation import evaluate, load_dataset, plot_accuracy_cost
from lmteams.state.store import EventStore
from lmteams.strategies.reliability import ReliabilityBook
from lmteams.testing import scripted_team
from tests.consensus.simulated import simulate


def items_of(world) -> list[Item]:  # type: ignore[no-untyped-def]
    return [Item(question=q, answer=t) for q, t in zip(world.questions, world.truth, strict=True)]


async def test_strategies_side_by_side_with_a_greedy_baseline(store: EventStore) -> None:
    world = simulate(60, [0.9, 0.6, 0.6, 0.6, 0.5], seed=2)
    spec, backends = scripted_team(5, world.script)
    seen: list[tuple[int, str]] = []
    report = await evaluate(
        spec,
        items_of(world),
        store,
        ["majority", "adaptive", "learned"],
        dataset="sim",
        parallel=4,
        backends=backends,
        on_item=lambda i, name, ok, result: seen.append((i, name)),
    )
    names = [s.strategy for s in report.scores]
    assert names == ["greedy", "majority", "adaptive", "learned"]
    assert len(seen) == 60 * 4
    scores = {s.strategy: s for s in report.scores}
    for score in report.scores:
        assert score.questions == 60
        assert score.ci_low <= score.accuracy <= score.ci_high
        assert score.prompt_tokens > 0 and score.calls > 0
    assert scores["greedy"].calls == 60 and scores["majority"].calls == 300
    assert scores["adaptive"].calls < 300
    assert scores["adaptive"].correct == scores["majority"].correct
    assert scores["majority"].accuracy == pytest.approx(
        sum(
            max(row.values(), key=list(row.values()).count) == truth
            for row, truth in zip(world.answers, world.truth, strict=True)
        )
        / 60
    )
    run = store.run(report.run_id)
    assert run.kind == "eval" and run.result is not None
    assert run.result["scores"][1]["strategy"] == "majority"
    events = store.events(report.run_id, types=["eval_item"])
    assert len(events) == 240 and {"correct", "gold", "tokens"} <= set(events[0].data)
    _, labels, _ = ReliabilityBook(store, spec.name).history()
    assert len(labels) == 60  # the dataset's answers became labels


async def test_train_saves_a_meta_model_that_learned_then_uses(store: EventStore) -> None:
    world = simulate(120, [0.9, 0.85, 0.4, 0.4, 0.4], bloc=(2, 3, 4), seed=3)
    spec, backends = scripted_team(5, world.script)
    report = await evaluate(
        spec, items_of(world), store, ["majority", "judge"], train=True, backends=backends
    )
    training = report.training
    assert training is not None and training["trained"], training
    assert training["uses_judge"] and training["questions"] == 120
    assert 0.0 <= training["train_accuracy"] <= 1.0 and training["cv_accuracy"] is not None
    saved = ReliabilityBook(store, spec.name).meta()
    assert saved is not None and saved[0].uses_judge
    again = await evaluate(spec, items_of(world)[:10], store, ["learned"], backends=backends)
    assert again.scores[1].strategy == "learned"
    decisions = store.events(again.run_id, types=["decision"])
    assert any(d.data["detail"].get("method") == "meta-model" for d in decisions)


async def test_training_needs_right_and_wrong_candidates(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda c: "Answer: 1")
    items = [Item(question=f"q{i}", answer="1") for i in range(5)]
    report = await evaluate(spec, items, store, ["majority"], train=True, backends=backends)
    assert report.training == {
        "trained": False,
        "reason": "training needs candidates that are right and candidates that are wrong",
        "questions": 5,
    }


async def test_answer_type_per_line_and_no_baseline(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda c: "I pick (b).\nAnswer: b")
    items = [Item(question="Pick one", answer="B", answer_type="choice")]
    report = await evaluate(spec, items, store, ["majority"], baseline=False, backends=backends)
    assert [s.strategy for s in report.scores] == ["majority"]
    assert report.scores[0].correct == 1


def test_load_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.jsonl: file not found"):
        load_dataset(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl: line 1: answer: required field is missing"):
        load_dataset(bad)


def test_plot_accuracy_against_cost(tmp_path: Path) -> None:
    score = {
        "strategy": "majority",
        "questions": 10,
        "accuracy": 0.5,
        "ci_low": 0.2,
        "ci_high": 0.8,
        "prompt_tokens": 100,
        "completion_tokens": 50,
    }
    out = plot_accuracy_cost(
        {"team": "t", "dataset": "d", "scores": [score, {**score, "strategy": "greedy"}]},
        tmp_path / "p.png",
    )
    assert out.read_bytes().startswith(b"\x89PNG")
