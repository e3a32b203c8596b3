from sample_data import SAMPLE
from sort_by_price import SAMPLE_DATA, sort_by_price


def test_sort_by_price():
    data = list(SAMPLE)
    assert [r["price"] for r in sort_by_price(data)] == [5.0, 5.0, 12.0, 12.0, 20.0]
    assert data == SAMPLE  # the original list is not modified
    assert SAMPLE_DATA == SAMPLE
