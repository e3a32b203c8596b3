import pytest
from z_score import z_score


def test_z_score():
    data = [2, 4, 4, 4, 5, 5, 7, 9]
    assert z_score(9, data) == pytest.approx(2.0)
    assert z_score(5, data) == pytest.approx(0.0)


def test_z_score_of_constant_data():
    with pytest.raises(ValueError):
        z_score(1, [1, 1, 1])
