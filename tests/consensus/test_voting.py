from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import Answer
from lmteams.consensus.voting import Vote, majority, plurality, tally


def votes(*keys: str) -> list[Vote]:
    return [Vote(f"n{i}", Answer(k, k.upper())) for i, k in enumerate(keys)]


def test_majority_wins() -> None:
    decision = majority(votes("a", "b", "a"))
    assert decision.answer == Answer("a", "A")
    assert decision.support == 2 and decision.total == 3
    assert not decision.tie
    assert decision.reason == "majority"
    assert abs(decision.agreement - 2 / 3) < 1e-9


def test_tie_is_broken_by_team_order_and_reported() -> None:
    decision = majority(votes("b", "a", "a", "b"))
    assert decision.answer is not None and decision.answer.key == "b"
    assert decision.tie
    assert {a.key for a in decision.tied} == {"a", "b"}
    assert "tie" in decision.reason


def test_empty_answers_do_not_vote() -> None:
    decision = majority(votes("", "x", ""))
    assert decision.answer is not None and decision.answer.key == "x"
    assert decision.total == 1 and decision.agreement == 1.0


def test_no_valid_votes_gives_no_answer() -> None:
    decision = majority(votes("", ""))
    assert decision.answer is None
    assert decision.agreement == 0.0
    assert majority([]).answer is None


def test_plurality_without_majority_is_labelled() -> None:
    decision = majority(votes("a", "b", "c", "a", "d"))
    assert decision.answer is not None and decision.answer.key == "a"
    assert decision.reason == "plurality (no majority)"


def test_representative_is_first_supporters_wording() -> None:
    groups = tally([Vote("x", Answer("k", "First")), Vote("y", Answer("k", "second"))])
    assert groups[0][0].text == "First"
    assert groups[0][2] == ("x", "y")


keys = st.lists(st.sampled_from(["a", "b", "c", ""]), max_size=12)


@given(keys)
def test_winner_has_maximal_support(ks: list[str]) -> None:
    decision = plurality(votes(*ks))
    counts = {k: ks.count(k) for k in set(ks) if k}
    if not counts:
        assert decision.answer is None
        return
    assert decision.answer is not None
    assert decision.support == max(counts.values())
    assert decision.tie == (list(counts.values()).count(max(counts.values())) > 1)


@given(keys)
def test_decision_is_deterministic_and_order_independent_except_ties(ks: list[str]) -> None:
    first = plurality(votes(*ks))
    assert plurality(votes(*ks)) == first
    reversed_decision = plurality(votes(*reversed(ks)))
    if not first.tie and first.answer is not None:
        assert reversed_decision.answer is not None
        assert reversed_decision.answer.key == first.answer.key


def test_weighted_vote_lets_a_heavy_node_win() -> None:
    from lmteams.consensus.voting import split_of, weighted

    decision = weighted(
        [
            Vote("expert", Answer("a", "A"), 3.0),
            Vote("x", Answer("b", "B"), 1.0),
            Vote("y", Answer("b", "B"), 1.0),
        ]
    )
    assert decision.answer == Answer("a", "A") and decision.reason == "weighted majority"
    assert split_of(decision) == {"A": 3.0, "B": 2.0}
    tie = weighted([Vote("x", Answer("a", "A"), 2.0), Vote("y", Answer("b", "B"), 2.0)])
    assert tie.tie and tie.answer == Answer("a", "A")
    assert weighted([]).answer is None


weighted_votes = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", ""]), st.floats(0.1, 10.0)), max_size=10
)


@given(weighted_votes)
def test_weighted_winner_has_the_most_weight(pairs: list[tuple[str, float]]) -> None:
    from lmteams.consensus.voting import weighted

    decision = weighted([Vote(f"n{i}", Answer(k, k), w) for i, (k, w) in enumerate(pairs)])
    totals: dict[str, float] = {}
    for key, weight in pairs:
        if key:
            totals[key] = totals.get(key, 0.0) + weight
    if not totals:
        assert decision.answer is None
        return
    assert decision.answer is not None
    assert decision.support == max(totals.values())
    assert abs(decision.total - sum(totals.values())) < 1e-9
    assert 0.0 < decision.agreement <= 1.0


@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=9), st.text(max_size=20))
def test_with_reason_keeps_all_but_the_reason(keys: list[str], reason: str) -> None:
    decision = plurality(votes(*keys))
    explained = decision.with_reason(reason)
    assert explained.reason == reason
    assert replace(explained, reason=decision.reason) == decision
