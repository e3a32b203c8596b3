from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.consensus.answers import extract_auto, extract_number
from lmteams.consensus.scoring import gold_key, wilson


def test_gold_is_normalized_like_answers() -> None:
    assert gold_key("1,000", extract_number) == extract_number("Answer: 1000.0").key
    assert gold_key("Paris", extract_auto) == extract_auto("The answer is paris.").key


def test_wilson_interval_known_values() -> None:
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 20)[0] == 0.0 and wilson(20, 20)[1] == 1.0


@given(st.integers(1, 500), st.data())
def test_interval_contains_the_estimate(total: int, data: st.DataObject) -> None:
    correct = data.draw(st.integers(0, total))
    low, high = wilson(correct, total)
    assert 0.0 <= low <= correct / total <= high <= 1.0
