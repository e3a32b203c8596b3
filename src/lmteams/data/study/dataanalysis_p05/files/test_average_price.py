import pytest
from average_price import SAMPLE_DATA, average_price
from sample_data import SAMPLE


def test_average_price():
    assert average_price(SAMPLE) == pytest.approx(10.8)
    with pytest.raises(ValueError):
        average_price([])
    assert SAMPLE_DATA == SAMPLE
