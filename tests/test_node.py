"""NodeWorker: per-question sampling seeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmteams.messages import Envelope, Kind, Usage
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.node import NodeWorker, question_seed


class Recording(ModelBackend):
    kind = "recording"

    def __init__(self) -> None:
        self.seen: list[Sampling] = []

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        self.seen.append(sampling)
        return Completion("Answer: 1", Usage(1, 1), 0.0)


def request(question: str, sampling: dict[str, Any] | None = None) -> Envelope:
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": question}]}
    if sampling is not None:
        payload["sampling"] = sampling
    return Envelope.make(
        run_id="r", sender="c", recipients=("n",), kind=Kind.REQUEST, payload=payload
    )


def worker(seed: int | None, temperature: float = 0.7) -> tuple[NodeWorker, Recording]:
    backend = Recording()
    sampling = Sampling(temperature=temperature, seed=seed)
    return NodeWorker("n", "solver", "Be brief.", sampling, backend), backend


async def test_each_question_gets_its_own_seed_and_a_repeat_the_same() -> None:
    node, backend = worker(seed=11)
    for question in ("What is 2 + 2?", "What is 3 + 3?", "What is 2 + 2?"):
        await node.handle(request(question))
    first, second, again = (s.seed for s in backend.seen)
    assert first != second
    assert first == again
    assert first == question_seed(11, [ChatMessage("user", "What is 2 + 2?")])


async def test_the_seed_depends_on_the_node_seed_and_retries_differ() -> None:
    node, backend = worker(seed=11)
    other, other_backend = worker(seed=12)
    await node.handle(request("q"))
    await other.handle(request("q"))
    await node.handle(request("q", {"seed": 11 + 7919}))  # a task retry's seed
    assert backend.seen[0].seed != other_backend.seen[0].seed
    assert backend.seen[0].seed != backend.seen[1].seed


async def test_greedy_and_unseeded_calls_are_left_alone() -> None:
    greedy, greedy_backend = worker(seed=11, temperature=0.0)
    unseeded, unseeded_backend = worker(seed=None)
    await greedy.handle(request("q"))
    await unseeded.handle(request("q"))
    await greedy.handle(request("q", {"temperature": 0.5}))
    assert greedy_backend.seen[0].seed == 11
    assert unseeded_backend.seen[0].seed is None
    assert greedy_backend.seen[1].seed == question_seed(11, [ChatMessage("user", "q")])


def test_question_seed_ignores_the_system_prompt_and_fits_31_bits() -> None:
    chat = [ChatMessage("user", "q")]
    assert question_seed(5, [ChatMessage("system", "a"), *chat]) == question_seed(5, chat)
    assert question_seed(5, chat) != question_seed(5, [ChatMessage("user", "q2")])
    for seed in (0, -1, 2**70, 7):
        assert 0 <= question_seed(seed, chat) < 2**31
