from sort_by_units import SAMPLE_DATA, sort_by_units

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def test_sort_by_units():
    data = list(SAMPLE)
    assert [r["units"] for r in sort_by_units(data)] == [12, 10, 8, 5, 3]
    assert data == SAMPLE  # the original list is not modified
    assert SAMPLE_DATA == SAMPLE
