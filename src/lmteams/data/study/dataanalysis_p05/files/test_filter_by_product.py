from filter_by_product import SAMPLE_DATA, filter_by_product
from sample_data import SAMPLE


def test_filter_by_product():
    assert filter_by_product(SAMPLE, "Alpha") == [SAMPLE[0], SAMPLE[2]]
    assert filter_by_product(SAMPLE, "Delta") == []
    assert SAMPLE_DATA == SAMPLE
