import pytest
from max_units_record import SAMPLE_DATA, max_units_record

SAMPLE = [
    {"product": "Alpha", "units": 10, "price": 5.0, "region": "North", "month": "Jan"},
    {"product": "Beta", "units": 5, "price": 12.0, "region": "South", "month": "Jan"},
    {"product": "Alpha", "units": 8, "price": 5.0, "region": "East", "month": "Feb"},
    {"product": "Gamma", "units": 3, "price": 20.0, "region": "West", "month": "Feb"},
    {"product": "Beta", "units": 12, "price": 12.0, "region": "North", "month": "Mar"},
]


def test_max_units_record():
    assert max_units_record(SAMPLE) == SAMPLE[4]
    with pytest.raises(ValueError):
        max_units_record([])
    assert SAMPLE_DATA == SAMPLE
