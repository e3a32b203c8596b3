from filter_by_region import SAMPLE_DATA, filter_by_region

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def test_filter_by_region():
    assert filter_by_region(SAMPLE, "North") == [SAMPLE[0], SAMPLE[4]]
    assert filter_by_region(SAMPLE, "Nowhere") == []
    assert SAMPLE_DATA == SAMPLE
