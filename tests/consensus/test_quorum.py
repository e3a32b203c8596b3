from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import Answer
from lmteams.consensus.quorum import check_faults, max_faults, quorum, quorum_size
from lmteams.consensus.voting import Vote
from lmteams.errors import ConfigError

TRUTH = Answer("42", "42")


def test_sizes() -> None:
    assert [max_faults(n) for n in (1, 3, 4, 6, 7, 10)] == [0, 0, 1, 1, 2, 3]
    assert [quorum_size(n) for n in (1, 3, 4, 7, 10)] == [1, 3, 3, 5, 7]


def test_n_below_3f_plus_1_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"n >= 3f\+1 = 7 .* has 4 .*--faults 1"):
        check_faults(4, 2)
    with pytest.raises(ConfigError, match="0 or more"):
        check_faults(4, -1)


def test_quorum_reached_and_not_reached() -> None:
    votes = [Vote(f"n{i}", TRUTH) for i in range(3)] + [Vote("n3", Answer("7", "7"))]
    decision = quorum(votes, 4, 1)
    assert decision.answer == TRUTH and decision.reason == "quorum 3/4"
    split = quorum([*votes[:2], Vote("n3", Answer("7", "7"))], 4, 1)
    assert split.answer is None
    assert split.reason.startswith("no consensus") and "42 x2" in split.reason
    assert "7 x1" in split.reason and "no answer x1" in split.reason


def test_weights_do_not_count_and_two_quorums_are_no_consensus() -> None:
    heavy = [Vote("liar", Answer("1", "1"), weight=100.0)] + [
        Vote(f"n{i}", TRUTH) for i in range(3)
    ]
    assert quorum(heavy, 4, 1).answer == TRUTH
    halves = [Vote(f"a{i}", TRUTH) for i in range(3)] + [
        Vote(f"b{i}", Answer("1", "1")) for i in range(3)
    ]
    assert quorum(halves, 7, 1).answer is None


@st.composite
def byzantine_rounds(draw: st.DrawFn) -> tuple[int, int, list[Vote], int]:
    f = draw(st.integers(0, 4))
    n = draw(st.integers(3 * f + 1, 3 * f + 4))
    faulty = draw(st.integers(0, n))
    bad_answers = st.one_of(st.none(), st.sampled_from(["41", "43", "", "42"]))
    votes = []
    for i in range(n):
        if i < faulty:  # a faulty node says anything, or nothing
            said = draw(bad_answers)
            if said is not None:
                votes.append(Vote(f"n{i}", Answer(said, said)))
        else:
            votes.append(Vote(f"n{i}", TRUTH))
    return n, f, votes, faulty


@given(byzantine_rounds())
def test_never_a_wrong_answer_with_at_most_f_faults(case: tuple[int, int, list[Vote], int]) -> None:
    n, f, votes, faulty = case
    decision = quorum(votes, n, f)
    if faulty <= f:
        assert decision.answer == TRUTH  # honest nodes alone are a quorum
    else:
        assert decision.answer in (TRUTH, None) or faulty >= 2 * f + 1


@given(st.integers(1, 4), st.data())
def test_more_than_f_colluding_faults_give_no_consensus(f: int, data: st.DataObject) -> None:
    n = 3 * f + 1
    faulty = data.draw(st.integers(f + 1, 2 * f))
    votes = [Vote(f"n{i}", Answer("41", "41")) for i in range(faulty)]
    votes += [Vote(f"n{i}", TRUTH) for i in range(faulty, n)]
    decision = quorum(votes, n, f)
    assert decision.answer is None and decision.reason.startswith("no consensus")
