from __future__ import annotations

from collections.abc import Sequence

from lmteams.config import parse_team
from lmteams.consensus.answers import extract_auto
from lmteams.consensus.settings import ConsensusSpec
from lmteams.models.scripted import ScriptedCall, ScriptedReply
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.base import Context, FirstAnswers, backend_can
from lmteams.strategies.runners import run_strategy
from lmteams.team import Team
from lmteams.testing import scripted_team


async def test_shared_first_answers_are_charged_to_every_strategy(store: EventStore) -> None:
    spec, backends = scripted_team(
        3, lambda c: ScriptedReply("Answer: 4", latency_s=0.0, completion_tokens=10)
    )
    cache = FirstAnswers("q")
    async with Team(spec, store, kind="t", backends=backends) as team:
        first = await run_strategy(
            team, "q", "majority", ConsensusSpec(), extract_auto, cache=cache
        )
        second = await run_strategy(
            team, "q", "weighted", ConsensusSpec(), extract_auto, cache=cache
        )
        third = await run_strategy(team, "q", "single", ConsensusSpec(), extract_auto, cache=cache)
        actual = team.totals.calls
    assert actual == 3  # the model was called once per node
    assert first.calls == second.calls == 3 and third.calls == 1
    assert first.completion_tokens == second.completion_tokens == 30
    assert sorted(cache.by_node) == ["n0", "n1", "n2"]
    other = FirstAnswers("another question")
    async with Team(spec, store, kind="t", backends=backends) as team:
        await run_strategy(team, "q", "majority", ConsensusSpec(), extract_auto, cache=other)
    assert other.by_node == {}  # a cache for another question is not used


async def test_similarity_grouping_before_the_vote(store: EventStore) -> None:
    answers = {"n0": "Answer: Paris, France", "n1": "Answer: London", "n2": "Answer: paris"}
    spec, backends = scripted_team(3, lambda c: answers[c.node or ""])
    exact = await ask(spec, "q", store, backends=backends)
    assert exact.tie
    grouped = await ask(
        spec, "q", store, backends=backends, options={"similarity": "tokens", "threshold": 0.5}
    )
    assert not grouped.tie and grouped.support == 2
    assert grouped.answer == "Paris, France"
    assert [n.answer for n in grouped.nodes] == ["Paris, France", "London", "Paris, France"]


async def test_embedding_grouping_with_an_embedder(store: EventStore) -> None:
    answers = {"n0": "Answer: the big apple", "n1": "Answer: boston", "n2": "Answer: new york"}
    spec, backends = scripted_team(3, lambda c: answers[c.node or ""])
    asked: list[list[str]] = []

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        asked.append(list(texts))
        table = {"big apple": [1.0, 0.0], "new york": [0.99, 0.05], "boston": [0.0, 1.0]}
        return [table[t] for t in texts]

    async with Team(spec, store, kind="t", backends=backends) as team:
        settings = ConsensusSpec(similarity="tokens").model_copy(update={"similarity": "embedding"})
        ctx = Context(team, "q", settings, extract_auto, embedder=embed)
        first = await ctx.first_answers(spec.node_names)
        grouped = await ctx.grouped(first)
    assert asked == [["big apple", "boston", "new york"]]
    assert grouped[0].answer_key == grouped[2].answer_key != grouped[1].answer_key


def test_backend_capabilities() -> None:
    spec, _ = scripted_team(1)
    assert backend_can(spec, "n0", "can_logprobs")
    assert not backend_can(spec, "n0", "can_json_schema")
    embedded = parse_team(
        {"models": {"m": {"backend": "embedded"}}, "nodes": [{"name": "a"}]}, source="t"
    )
    assert backend_can(embedded, "a", "can_json_schema")


async def test_progress_reports_every_call(store: EventStore) -> None:
    seen: list[tuple[str, str]] = []

    def script(call: ScriptedCall) -> str:
        return "Answer: 1" if call.node != "n2" else "Answer: 2"

    spec, backends = scripted_team(3, script)
    await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="debate",
        options={"rounds": 1},
        on_progress=lambda n, s, a: seen.append((n, s)),
    )
    assert seen.count(("n2", "done")) == 2 and seen.count(("n0", "running")) == 2
