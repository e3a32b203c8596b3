import pytest
from average_revenue import average_revenue


def test_average_revenue():
    assert average_revenue() == pytest.approx(1594.19 / 11)
