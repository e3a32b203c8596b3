import pytest
from std_dev import std_dev


def test_std_dev():
    assert std_dev([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        std_dev([])
