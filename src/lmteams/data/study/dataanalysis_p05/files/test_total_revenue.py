import pytest
from total_revenue import total_revenue


def test_total_revenue():
    assert total_revenue() == pytest.approx(1594.19)
