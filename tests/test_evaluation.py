from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.consensus.datasets import Item
from lmteams.errors import ConfigError
from lmteams.state.reliability import ReliabilityBook
from lmteams.state.store import EventStore
from lmteams.strategies.evaluation import evaluate, load_dataset, plot_accuracy_cost
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
    strategy_events = [e for e in events if not e.data["strategy"].startswith("member:")]
    assert len(strategy_events) == 240 and {"correct", "gold", "tokens"} <= set(events[0].data)
    assert len(events) - len(strategy_events) == 60 * 5  # each member alone, per question
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


async def test_members_alone_and_paired_comparisons(store: EventStore) -> None:
    world = simulate(80, [0.9, 0.55, 0.55, 0.55, 0.5], seed=4)
    spec, backends = scripted_team(5, world.script)
    report = await evaluate(
        spec, items_of(world), store, ["majority", "adaptive"], backends=backends
    )
    members = {m.strategy: m for m in report.members}
    assert list(members) == list(spec.node_names)
    for node, member in members.items():
        column = [row.get(node) for row in world.answers]
        right = sum(a == t for a, t in zip(column, world.truth, strict=True))
        assert member.correct == right and member.calls == 80
    assert report.best_member == max(members.values(), key=lambda m: m.correct).strategy
    assert report.largest_node == spec.node_names[0]  # no sizes known: the first node
    pairs = {(c.strategy, c.against): c for c in report.comparisons}
    assert set(pairs) == {
        (s, a) for s in ("majority", "adaptive") for a in ("best member", "largest alone")
    }
    scores = {s.strategy: s for s in report.scores}
    best = members[report.best_member or ""]
    versus = pairs[("majority", "best member")]
    assert versus.baseline == report.best_member
    assert versus.difference == pytest.approx(scores["majority"].accuracy - best.accuracy)
    assert versus.wins - versus.losses == scores["majority"].correct - best.correct
    assert 0.0 < versus.p_value <= 1.0
    assert pairs[("adaptive", "largest alone")].baseline == "greedy"


async def test_members_are_asked_when_no_strategy_asked_them(store: EventStore) -> None:
    spec, backends = scripted_team(3, lambda c: "Answer: 4")
    items = [Item(question="What is 2 + 2?", answer="four")]
    report = await evaluate(spec, items, store, ["single"], backends=backends)
    assert [m.correct for m in report.members] == [1, 1, 1]  # "four" reads as the number 4
    assert all(m.calls == 1 for m in report.members)
    without = await evaluate(spec, items, store, ["single"], members=False, backends=backends)
    assert without.members == [] and without.best_member is None
    assert [c.against for c in without.comparisons] == ["largest alone"]


async def test_greedy_runs_on_a_node_of_the_largest_model(store: EventStore) -> None:
    from lmteams.config import TeamSpec
    from lmteams.strategies.evaluation import largest_model_node, model_size_bytes

    spec = TeamSpec.model_validate(
        {
            "name": "mixed",
            "models": {
                "small": {"backend": "embedded", "model": "smollm2-135m"},
                "big": {"backend": "embedded", "model": "qwen2.5-coder-1.5b"},
                "tool": {"backend": "python"},
            },
            "defaults": {"model": "small"},
            "nodes": [{"name": "a"}, {"name": "t", "model": "tool"}, {"name": "b", "model": "big"}],
        }
    )
    assert model_size_bytes(spec, "big") == 1_117_320_768
    assert model_size_bytes(spec, "tool") is None
    assert largest_model_node(spec) == "b"


async def test_sentence_answers_are_scored_right(store: EventStore) -> None:
    replies = {
        "Which planet is largest?": "The largest planet is Jupiter.",
        "What is 6 x 7?": "Six times seven is forty-two.",
        "How much is 10 x 100?": "It comes to $1,000.00.",
        "Is 7 a prime number?": "7 is a prime number.",
    }

    def script(call):  # type: ignore[no-untyped-def]
        return replies[call.prompt]

    spec, backends = scripted_team(3, script)
    items = [
        Item(question="Which planet is largest?", answer="Jupiter"),
        Item(question="What is 6 x 7?", answer="42"),
        Item(question="How much is 10 x 100?", answer="1000"),
        Item(question="Is 7 a prime number?", answer="yes"),
    ]
    report = await evaluate(spec, items, store, ["majority"], backends=backends)
    assert [s.correct for s in report.scores] == [4, 4]


async def test_the_table_shows_members_and_paired_differences(store: EventStore) -> None:
    from rich.console import Console

    from lmteams.cli.render import eval_table

    world = simulate(40, [0.9, 0.5, 0.5], seed=5)
    spec, backends = scripted_team(3, world.script)
    report = await evaluate(spec, items_of(world), store, ["majority"], backends=backends)
    console = Console(record=True, width=200)
    eval_table(console, report)
    text = console.export_text()
    assert "vs best member" in text and "vs largest alone" in text
    assert f"member {report.best_member} (best)" in text
    assert "greedy: n0 alone" in text and "McNemar" in text
    versus = next(c for c in report.comparisons if c.against == "best member")
    assert f"{versus.difference * 100:+.1f} p={versus.p_value:.2g}" in text
