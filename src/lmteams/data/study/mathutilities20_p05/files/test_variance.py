import pytest
from variance import variance


def test_variance():
    assert variance([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(4.0)
    assert variance([3, 3]) == 0
    with pytest.raises(ValueError):
        variance([])
