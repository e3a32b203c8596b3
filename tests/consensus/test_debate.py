from __future__ import annotations

from lmteams.consensus.answers import Answer
from lmteams.consensus.debate import Peer, agreed, debate_chat, layer_prompt
from lmteams.consensus.voting import Vote


def test_debate_chat_shows_own_reply_then_the_others() -> None:
    chat = debate_chat("What is 2+2?", "I think 5. Answer: 5", [Peer("4", "2 plus 2 is 4")])
    assert [m["role"] for m in chat] == ["user", "assistant", "user"]
    assert chat[1]["content"].endswith("Answer: 5")
    assert "1. 4 (reasoning: 2 plus 2 is 4)" in chat[2]["content"]
    assert "Answer: <answer>" in chat[2]["content"]
    first = debate_chat("q", None, [Peer("", "")])
    assert [m["role"] for m in first] == ["user", "user"] and "no answer" in first[1]["content"]


def test_agreement_needs_more_than_two_thirds() -> None:
    def votes(*keys: str) -> list[Vote]:
        return [Vote(f"n{i}", Answer(k, k)) for i, k in enumerate(keys)]

    assert agreed(votes("a", "a", "b"), 3)[1] is False  # 2 of 3 is not a quorum of 3
    assert agreed(votes("a", "a", "a"), 3)[1] is True
    assert agreed(votes("a", "a", "a", "b"), 4)[1] is True  # 3 of 4 (n = 3f + 1, f = 1)
    assert agreed(votes("a", "a", ""), 3)[1] is False
    assert agreed([], 3)[1] is False


def test_layer_prompt_lists_responses() -> None:
    text = layer_prompt("q?", ["first", "second"], final=True)
    assert "1. first" in text and "2. second" in text and "single best final answer" in text
    assert "improved answer" in layer_prompt("q?", ["r"])
