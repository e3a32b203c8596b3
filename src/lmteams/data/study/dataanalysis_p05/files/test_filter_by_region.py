from filter_by_region import SAMPLE_DATA, filter_by_region
from sample_data import SAMPLE


def test_filter_by_region():
    assert filter_by_region(SAMPLE, "North") == [SAMPLE[0], SAMPLE[4]]
    assert filter_by_region(SAMPLE, "Nowhere") == []
    assert SAMPLE_DATA == SAMPLE
