from filter_by_month import SAMPLE_DATA, filter_by_month
from sample_data import SAMPLE


def test_filter_by_month():
    assert filter_by_month(SAMPLE, "Feb") == [SAMPLE[2], SAMPLE[3]]
    assert filter_by_month(SAMPLE, "Dec") == []
    assert SAMPLE_DATA == SAMPLE
