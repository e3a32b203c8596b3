import pytest
from normalize import normalize


def test_normalize():
    assert normalize([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(
        [-1.5, -0.5, -0.5, -0.5, 0.0, 0.0, 1.0, 2.0]
    )


def test_normalize_bad_input():
    with pytest.raises(ValueError):
        normalize([])
    with pytest.raises(ValueError):
        normalize([3, 3, 3])
